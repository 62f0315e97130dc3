import PropertyBased
import Testing

/// One random life of the tunnel: what the administrator, the portal, the application, the network and the hosts do,
/// step by step, in the spirit of Firezone's tunnel state-machine test (rust/connlib/tunnel/src/tests/transition.rs).
/// ``generator`` draws sequences; ``TunnelSequenceRun`` plays one on the reference model and a system under test.
///
/// Steps name slots of ``TunnelWorld``'s catalogue, never identifiers that may be gone: any step is valid in any
/// state, so the shrinker can drop steps freely. The description is Swift: a shrunk failing sequence can be pasted
/// into a regression list.
struct TunnelSequence: Sendable, CustomTestStringConvertible {
    enum Sites: String, CaseIterable, Sendable {
        case a
        case b
        case both
    }

    /// Where a probe goes: an address of ``TunnelWorld/targets``, or a proxy IP the client's DNS gave for one of
    /// ``TunnelWorld/names`` (of the given family; skipped while the name has no answer the probe can use).
    enum Target: Sendable, Hashable, CustomStringConvertible {
        case address(Int)
        case name(Int, ipv6: Bool)

        var description: String {
            switch self {
            case .address(let index): ".address(\(index))"
            case .name(let index, let ipv6): ".name(\(index), ipv6: \(ipv6))"
            }
        }
    }

    enum Probe: Sendable, Hashable, CustomStringConvertible {
        case icmpEcho
        case udp(port: UInt16)
        case tcp(port: UInt16)

        var description: String {
            switch self {
            case .icmpEcho: ".icmpEcho"
            case .udp(let port): ".udp(port: \(port))"
            case .tcp(let port): ".tcp(port: \(port))"
            }
        }
    }

    enum Step: Sendable, Hashable, CustomStringConvertible {
        /// The administrator adds the slot's resource, or changes its sites or filters, and the client's policies
        /// allow it.
        case upsert(slot: Int, sites: Sites, filters: Int)
        case remove(slot: Int)
        /// A policy stops allowing the slot's resource: the client no longer sees it, its flows end.
        case revoke(slot: Int)
        case setInternetResourceActive(Bool)
        /// The application sends one packet from the client's TUN; the resource host echoes what reaches it.
        case send(Target, Probe)
        /// The application asks the client's DNS sentinel for a name's A (or AAAA) records, over UDP or TCP.
        case query(name: Int, ipv6: Bool, tcp: Bool)
        /// The application asks the sentinel for the PTR record of an address, or of a proxy address the client's
        /// DNS gave for a name (skipped while it gave none of that family).
        case reverseQuery(Target)
        /// The application asks the sentinel for a name's TXT (or SRV) records: a DNS resource's site answers them.
        case recordQuery(name: Int, txt: Bool)
        /// The application asks for a name's A records over LLMNR.
        case llmnr(name: Int)
        /// The portal sets (or clears) an `upstream_dns` inside the CIDR resources.
        case setPortalUpstream(Bool)
        /// Every authorized flow reaches its expiry.
        case expireFlows
        /// The portal extends every flow past the next expiry.
        case extendFlows
        /// The gateway's process starts anew; the portal re-sends its authorizations on join.
        case restartGateway(Int)
        /// The gateway leaves (or rejoins) the portal; its data plane stays up.
        case setGatewayOnline(Int, Bool)
        /// The client's process starts a new session: new connections, the DNS records of the last session kept
        /// (Firezone #10104).
        case restartClient
        /// The client's network drops everything for longer than a connection survives, then heals.
        case connectionFailure
        /// The client moves to another network: new public address, connections reset.
        case roam
        case idle(seconds: Int)

        var description: String {
            switch self {
            case .upsert(let slot, let sites, let filters):
                ".upsert(slot: \(slot), sites: .\(sites), filters: \(filters))"
            case .remove(let slot): ".remove(slot: \(slot))"
            case .revoke(let slot): ".revoke(slot: \(slot))"
            case .setInternetResourceActive(let active): ".setInternetResourceActive(\(active))"
            case .send(let target, let probe): ".send(\(target), \(probe))"
            case .query(let name, let ipv6, let tcp): ".query(name: \(name), ipv6: \(ipv6), tcp: \(tcp))"
            case .reverseQuery(let target): ".reverseQuery(\(target))"
            case .recordQuery(let name, let txt): ".recordQuery(name: \(name), txt: \(txt))"
            case .llmnr(let name): ".llmnr(name: \(name))"
            case .setPortalUpstream(let set): ".setPortalUpstream(\(set))"
            case .expireFlows: ".expireFlows"
            case .extendFlows: ".extendFlows"
            case .restartGateway(let index): ".restartGateway(\(index))"
            case .setGatewayOnline(let index, let online): ".setGatewayOnline(\(index), \(online))"
            case .restartClient: ".restartClient"
            case .connectionFailure: ".connectionFailure"
            case .roam: ".roam"
            case .idle(let seconds): ".idle(seconds: \(seconds))"
            }
        }
    }

    /// The system under test's own seed (the portal's choices, keys, link impairments).
    var seed: UInt64
    var steps: [Step]

    var testDescription: String {
        "TunnelSequence(seed: \(self.seed), steps: [\n" + self.steps.map { "    \($0),\n" }.joined() + "])"
    }
}

// MARK: Generators

extension TunnelSequence {
    /// Every step kind over the whole catalogue.
    static var generator: Generator<TunnelSequence, some SendableSequenceType> { Self.makeGenerator(dns: true) }

    /// `dns: false` leaves out the DNS resources, the queries and the probes to names: for a client without a
    /// DNS stub resolver.
    static func makeGenerator(dns: Bool) -> Generator<TunnelSequence, some SendableSequenceType> {
        let slots = TunnelWorld.slots.indices.filter {
            if case .dns = TunnelWorld.slots[$0].address { dns } else { true }
        }
        let slot = Gen<Int?>.element(of: slots).map { $0 ?? 0 }
        let gateway = Gen.int(in: 0...(TunnelWorld.gateways.count - 1))
        let address = Gen.int(in: 0...(TunnelWorld.targets.count - 1)).map { Target.address($0) }
        let name = zip(Gen.int(in: 0...(TunnelWorld.names.count - 1)), Gen.bool()).map { Target.name($0, ipv6: $1) }
        let target = Gen<Target>.frequency((3, address), (dns ? 2 : 0, name))
        // Ports inside and outside the catalogue's filters: 80 and 443 (TCP sets), 53 and 55 (around the UDP range
        // 50–60), 8080 and 5000 (no set but "all").
        let probe = Gen<Probe>.frequency(
            (1, Gen.always(Probe.icmpEcho)),
            (1, Gen<UInt16?>.element(of: [53, 55, 5000]).map { Probe.udp(port: $0 ?? 55) }),
            (1, Gen<UInt16?>.element(of: [80, 443, 8080]).map { Probe.tcp(port: $0 ?? 80) })
        )
        // Adding and changing resources is drawn most after probing, so that most probes find a resource.
        let step = Gen<Step>.frequency(
            (
                6,
                zip(slot, Gen<Sites>.case, Gen.int(in: 0...(TunnelWorld.filterSets.count - 1)))
                    .map { Step.upsert(slot: $0, sites: $1, filters: $2) }
            ),
            (1, slot.map { Step.remove(slot: $0) }),
            (0.7, slot.map { Step.revoke(slot: $0) }),
            (0.7, Gen.bool().map { Step.setInternetResourceActive($0) }),
            (8, zip(target, probe).map { Step.send($0, $1) }),
            (
                dns ? 4 : 0,
                zip(Gen.int(in: 0...(TunnelWorld.names.count - 1)), Gen.bool(), Gen.bool())
                    .map { Step.query(name: $0, ipv6: $1, tcp: $2) }
            ),
            // Mostly the proxy addresses of names, which only a DNS resource's answer gives.
            (dns ? 1 : 0, Gen<Target>.frequency((1, address), (3, name)).map { Step.reverseQuery($0) }),
            (dns ? 1 : 0, Gen.int(in: 0...(TunnelWorld.names.count - 1)).map { Step.llmnr(name: $0) }),
            (
                dns ? 1 : 0,
                zip(Gen.int(in: 0...(TunnelWorld.names.count - 1)), Gen.bool())
                    .map { Step.recordQuery(name: $0, txt: $1) }
            ),
            (dns ? 0.5 : 0, Gen.bool().map { Step.setPortalUpstream($0) }),
            (0.5, Gen.always(Step.expireFlows)),
            (0.5, Gen.always(Step.extendFlows)),
            (0.5, gateway.map { Step.restartGateway($0) }),
            (0.7, zip(gateway, Gen.bool()).map { Step.setGatewayOnline($0, $1) }),
            (0.4, Gen.always(Step.restartClient)),
            (0.4, Gen.always(Step.connectionFailure)),
            (0.4, Gen.always(Step.roam)),
            (0.7, Gen.int(in: 1...120).map { Step.idle(seconds: $0) })
        )
        // 5 to 30 steps. Each is drawn as an optional that is never nil, so that the shrinker (which tries nil last
        // for an optional) can drop single steps below the 5 the array keeps.
        return zip(
            Gen<UInt64>.value(in: .min ... .max).withoutShrink(),
            step.optional(valueRate: 1).array(of: 5...30)
        ).map { seed, steps in
            TunnelSequence(seed: seed, steps: steps.compactMap { $0 })
        }
    }
}
