import FirezoneTesting
import ICE
import IPPacket
import PropertyBased
import Testing

/// One random life of a client–gateway pair: the network at setup, then what the portal, the application, the
/// network and strangers do, step by step. ``generator`` draws them; ``EventSequenceRun`` plays them. The
/// description is Swift: a shrunk failing sequence can be pasted into ``PropertyScenarioTests/regressions``.
struct EventSequence: Sendable, CustomTestStringConvertible {
    enum Side: String, CaseIterable, Sendable {
        case client
        case gateway
    }

    enum Placement: CaseIterable, Sendable {
        case publicInternet
        case fullCone
        case portRestrictedCone
        case symmetric
    }

    /// Candidates the portal delivers besides the peer's own batches.
    enum Injection: Sendable, Hashable {
        /// A string that is no candidate.
        case garbage(String)
        /// A valid candidate of `kind` on 203.0.113.(100 + host):port, where nothing listens.
        case unrelated(CandidateKind, host: UInt8, port: UInt16)
        /// The peer's candidates again (duplicates).
        case duplicates
        /// The peer's candidates, for a connection ID the node does not have.
        case forUnknownConnection
    }

    enum Removal: Sendable, Hashable {
        /// The peer's highest-priority candidate, while the peer still uses it.
        case peerCandidate
        case garbage(String)
        /// A valid candidate the node never got.
        case unrelated
        case forUnknownConnection
    }

    enum RelayChange: Sendable, Hashable {
        case remove(relay: Int)
        /// The relay (again, with the credentials it has; a refresh when the node has it).
        case add(relay: Int)
        /// The relay with new credentials (the portal minted new ones).
        case replaceCredentials(relay: Int)
    }

    /// What a stranger sends to one of the node's signalled addresses: all of it must be refused.
    enum StrangerDatagram: CaseIterable, Sendable {
        case junk
        case bindingRequestForNoConnection
        case wireGuardInitiation
        /// Channel data from port 3478 of an address that is no relay of the node's.
        case channelDataFromNoRelay
    }

    enum Step: Sendable, Hashable, CustomStringConvertible {
        /// The portal's flow: the gateway, then the client, upsert each other; `fresh` mints new ICE credentials
        /// and a new preshared key, otherwise the last flow's are used (a reuse when nothing else changed).
        case connect(fresh: Bool)
        /// Only one side gets the flow.
        case upsert(EventSequence.Side, fresh: Bool)
        /// A connection under another ID: to a key nobody has (it can never connect), or to the peer's key (refused
        /// while the peer's own connection has it).
        case upsertOther(EventSequence.Side, peerKey: Bool)
        case remove(EventSequence.Side)
        case close(EventSequence.Side)
        case addCandidates(EventSequence.Side, Injection)
        case removeCandidate(EventSequence.Side, Removal)
        case relays(EventSequence.Side, RelayChange)
        /// A new static key and fresh allocations (the network changed); the portal learns the key.
        case reset(EventSequence.Side)
        case send(EventSequence.Side, count: Int)
        /// Loss on the access link of the client (0), the gateway (1) or a relay (2, 3).
        case loss(host: Int, percent: Int)
        case wait(milliseconds: Int)
        /// Links heal; established connections must carry data both ways.
        case quiet
        case stranger(EventSequence.Side, StrangerDatagram)

        var description: String {
            switch self {
            case .connect(let fresh): ".connect(fresh: \(fresh))"
            case .upsert(let side, let fresh): ".upsert(.\(side), fresh: \(fresh))"
            case .upsertOther(let side, let peerKey): ".upsertOther(.\(side), peerKey: \(peerKey))"
            case .remove(let side): ".remove(.\(side))"
            case .close(let side): ".close(.\(side))"
            case .addCandidates(let side, .unrelated(let kind, let host, let port)):
                ".addCandidates(.\(side), .unrelated(.\(Self.swiftName(of: kind)), host: \(host), port: \(port)))"
            case .addCandidates(let side, let injection): ".addCandidates(.\(side), .\(injection))"
            case .removeCandidate(let side, let removal): ".removeCandidate(.\(side), .\(removal))"
            case .relays(let side, let change): ".relays(.\(side), .\(change))"
            case .reset(let side): ".reset(.\(side))"
            case .send(let side, let count): ".send(.\(side), count: \(count))"
            case .loss(let host, let percent): ".loss(host: \(host), percent: \(percent))"
            case .wait(let milliseconds): ".wait(milliseconds: \(milliseconds))"
            case .quiet: ".quiet"
            case .stranger(let side, let datagram): ".stranger(.\(side), .\(datagram))"
            }
        }

        private static func swiftName(of kind: CandidateKind) -> String {
            switch kind {
            case .host: "host"
            case .serverReflexive: "serverReflexive"
            case .peerReflexive: "peerReflexive"
            case .relayed: "relayed"
            }
        }
    }

    /// The simulation's seed: link impairments and the nodes' own seeds.
    var seed: UInt64
    var client: Placement
    var gateway: Placement
    var relays: Int
    var steps: [Step]

    var testDescription: String {
        "EventSequence(seed: \(self.seed), client: .\(self.client), gateway: .\(self.gateway), relays: "
            + "\(self.relays), steps: [\n" + self.steps.map { "    \($0),\n" }.joined() + "])"
    }
}

// MARK: Generators

extension EventSequence {
    static let side = Gen<Side>.case

    static let garbage = Gen<String?>.element(of: [
        "",
        "candidate:",
        "a=candidate:1 1 udp",
        "candidate:1 1 udp 0 198.51.100.10 52625 typ host",
        "candidate:1 1 udp 2130706431 300.1.1.1 52625 typ host",
        "candidate:1 1 udp 2130706431 198.51.100.10 0 typ host",
        "candidate:1 1 udp 2130706431 198.51.100.10 65536 typ host",
        "candidate:1 2 udp 2130706431 198.51.100.10 52625 typ host",
        "candidate:1 1 tcp 2130706431 198.51.100.10 52625 typ host",
        "candidate:1 1 udp 2130706431 198.51.100.10 52625 typ bogus",
        "candidate:1 1 udp 2130706431 198.51.100.10 52625 host",
        "candidate:!! 1 udp 2130706431 198.51.100.10 52625 typ host",
        "candidate:ü 1 udp 2130706431 198.51.100.10 52625 typ host",
        "candidate:1 1 udp 99999999999 198.51.100.10 52625 typ host",
        "candidate:" + String(repeating: "9", count: 2000),
        "\u{0}\u{1}\u{2}candidate",
    ]).map { $0 ?? "" }

    static let injection = Gen<Injection>.frequency(
        (2, garbage.map { Injection.garbage($0) }),
        (
            2,
            zip(
                Gen<CandidateKind?>.element(of: [.host, .serverReflexive, .relayed]).map { $0 ?? .host },
                Gen.uint8(in: 0...9),
                Gen.uint16(in: 1...65535)
            ).map { Injection.unrelated($0, host: $1, port: $2) }
        ),
        (2, Gen.always(Injection.duplicates)),
        (1, Gen.always(Injection.forUnknownConnection))
    )

    static let removal = Gen<Removal>.frequency(
        (2, Gen.always(Removal.peerCandidate)),
        (1, garbage.map { Removal.garbage($0) }),
        (1, Gen.always(Removal.unrelated)),
        (1, Gen.always(Removal.forUnknownConnection))
    )

    static let relayIndex = Gen.int(in: 0...1)

    static let relayChange = Gen<RelayChange>.frequency(
        (1, relayIndex.map { RelayChange.remove(relay: $0) }),
        (1, relayIndex.map { RelayChange.add(relay: $0) }),
        (1, relayIndex.map { RelayChange.replaceCredentials(relay: $0) })
    )

    static let lossPercent = Gen<Int>.frequency(
        (3, Gen.always(0)),
        (2, Gen.int(in: 1...50)),
        (1, Gen.int(in: 51...99)),
        (2, Gen.always(100))
    )

    /// Milliseconds to minutes, in three bands so that each is drawn often.
    static let waitMilliseconds = Gen<Int>.frequency(
        (1, Gen.int(in: 1...100)),
        (2, Gen.int(in: 100...5000)),
        (1, Gen.int(in: 5000...180_000))
    )

    static let step = Gen<Step>.frequency(
        (3, Gen.bool().map { Step.connect(fresh: $0) }),
        (2, zip(side, Gen.bool()).map { Step.upsert($0, fresh: $1) }),
        (0.5, zip(side, Gen.bool()).map { Step.upsertOther($0, peerKey: $1) }),
        (1, side.map { Step.remove($0) }),
        (1, side.map { Step.close($0) }),
        (2, zip(side, injection).map { Step.addCandidates($0, $1) }),
        (1, zip(side, removal).map { Step.removeCandidate($0, $1) }),
        (2, zip(side, relayChange).map { Step.relays($0, $1) }),
        (0.7, side.map { Step.reset($0) }),
        (3, zip(side, Gen.int(in: 1...5)).map { Step.send($0, count: $1) }),
        (2, zip(Gen.int(in: 0...3), lossPercent).map { Step.loss(host: $0, percent: $1) }),
        (5, waitMilliseconds.map { Step.wait(milliseconds: $0) }),
        (1, Gen.always(Step.quiet)),
        (1, zip(side, Gen<StrangerDatagram>.case).map { Step.stranger($0, $1) })
    )

    /// 20 to 60 steps. Each is drawn as an optional that is never nil, so that the shrinker (which tries nil last
    /// for an optional) can drop single steps below the 20 the array keeps.
    static let generator = zip(
        Gen<UInt64>.value(in: .min ... .max).withoutShrink(),
        Gen<Placement>.case,
        Gen<Placement>.case,
        Gen.int(in: 1...2),
        step.optional(valueRate: 1).array(of: 20...60)
    ).map { seed, client, gateway, relays, steps in
        EventSequence(seed: seed, client: client, gateway: gateway, relays: relays, steps: steps.compactMap { $0 })
    }
}
