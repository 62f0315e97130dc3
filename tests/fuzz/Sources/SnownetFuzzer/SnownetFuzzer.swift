import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import FuzzSupport
import ICE
import IPPacket
import Logging
import NIOCore
import STUN
import SimulatedRelay
import Snownet
import WireGuard

// The `snownet` fuzz target: a node with one relay and one connection fed a sequence of datagrams and candidates.
//
// Input: records of `[op: UInt8][length: UInt16, big endian][length bytes]` (a short last record takes what is
// left). The op's bits choose:
// - 0–1: where the record comes from: 0 the relay's port 3478, 1 the peer's host socket, 2 an address made of the
//   record's first bytes (any stranger), 3 the portal: the bytes are a remote candidate in SDP form;
// - 2: "sign": bytes that decode as STUN are sent re-encoded with MESSAGE-INTEGRITY (the ICE password the node
//   checks, or the relay's long-term key for relay traffic) and FINGERPRINT, so that the fuzzer gets past
//   authentication into the ICE agent and the TURN client;
// - 3–7: first advance the clock by that many quarter seconds and run the node's timers.
// An input of even length runs a client, an odd one a gateway. What the node sends to its relay reaches our real
// relay core (`RelayNode`), whose answers come back: the node gets its host, server-reflexive and relayed
// candidates, and its ICE agent pairs them with the fuzzed remote ones.
//
// Invariants, any violation a `fatalError`: nothing traps; a candidate that parses prints an SDP form that parses
// back to the same candidate; every candidate the node signals parses; the node sends only to its relay, to a
// remote candidate's address (or a port of a remote server-reflexive candidate's IP: the optimistic guesses), or
// to an address that sent it something; the next timeout is never earlier than the last `now`.

let relay = IPSocketAddress("203.0.113.1:3478")!
let peerHost = IPSocketAddress("192.0.2.10:52625")!
let local = IPSocketAddress("198.51.100.10:52625")!
let localCredentials = IceCredentials(ufrag: "local", password: "local-password-0123456789")
let remoteCredentials = IceCredentials(ufrag: "remote", password: "remote-password-0123456789")
let clock = FluxCapacitor(now: .zero + .seconds(1))
let turnCredentials = RelayNode.credentials(clock: clock, salt: "fuzz")
let turnUsername = turnCredentials.username
let turnPassword = turnCredentials.password
let secret = StaticSecret(Bytes32((0..<32).map { UInt8($0) &+ 1 })!)
let peerKey = LocalIdentity(secret: StaticSecret(Bytes32((0..<32).map { UInt8($0) &+ 77 })!)).publicKey
let seed = Bytes32((0..<32).map { UInt8($0) &* 3 })!
let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = UnsafeBufferPointer(start: start, count: start == nil ? 0 : count)
    var run = Run(role: count % 2 == 0 ? .client : .gateway)
    var offset = 0
    while offset + 3 <= input.count {
        let op = input[offset]
        let declared = Int(input[offset + 1]) << 8 | Int(input[offset + 2])
        let end = min(offset + 3 + declared, input.count)
        run.step(op: op, bytes: Array(input[(offset + 3)..<end]))
        offset = end
    }
    return 0
}

struct Run {
    var node: Node<String, String>
    var relayNode = RelayNode(addresses: [relay.address], seed: 1, clock: clock, logger: logger)
    var now = clock.now
    let unixStart = clock.unixTime - (clock.now - .zero)
    /// Where the node may send: its relay, remote candidates, and whoever sent it something.
    var reachable: Set<IPSocketAddress> = [relay]
    var reflexiveIPs: Set<IPAddress> = []

    init(role: NodeRole) {
        self.node = Node(
            role: role,
            secret: secret,
            seed: seed,
            logger: logger,
            now: self.now,
            unixTime: self.unixStart
        )
        self.node.updateRelays(
            removing: [],
            adding: [
                TURNServer(
                    id: "relay",
                    socket: .v4(relay),
                    username: turnUsername,
                    password: turnPassword,
                    realm: "firezone"
                )
            ],
            now: self.now
        )
        do {
            try self.node.upsertConnection(
                "peer",
                remoteKey: peerKey,
                presharedKey: .none,
                local: localCredentials,
                remote: remoteCredentials,
                now: self.now
            )
        } catch {
            fatalError("a node with a relay takes a connection: \(error)")
        }
        self.drain()
    }

    mutating func step(op: UInt8, bytes: [UInt8]) {
        let quarters = Int(op >> 3)
        if quarters > 0 {
            self.now = self.now + .milliseconds(250 * quarters)
            self.node.handleTimeout(now: self.now, unixTime: self.unixStart + (self.now - .zero))
            self.drain()
        }
        let source: IPSocketAddress
        switch op & 0b11 {
        case 0: source = relay
        case 1: source = peerHost
        case 2:
            let port = bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : 1
            source = IPSocketAddress(IPAddress("192.0.2.\(bytes.first ?? 1)")!, port: port)
        default:
            self.addCandidate(String(decoding: bytes, as: UTF8.self))
            return
        }
        var datagram = ByteBuffer(bytes: bytes)
        if op & 0b100 != 0 {
            datagram = Self.signed(datagram, fromRelay: source == relay)
        }
        self.reachable.insert(source)
        _ = try? self.node.decapsulate(&datagram, from: source, local: local, now: self.now)
        self.drain()
    }

    mutating func addCandidate(_ sdp: String) {
        if let candidate = try? Candidate(parsing: sdp) {
            let reparsed = try? Candidate(parsing: candidate.sdp)
            check(
                reparsed == candidate,
                "\(candidate) prints as \(candidate.sdp), which parses to \(String(describing: reparsed))"
            )
            self.reachable.insert(candidate.address)
            if candidate.kind == .serverReflexive {
                self.reflexiveIPs.insert(candidate.address.address)
            }
        }
        _ = try? self.node.addRemoteCandidate(sdp, for: "peer", now: self.now)
        self.drain()
    }

    static func signed(_ datagram: ByteBuffer, fromRelay: Bool) -> ByteBuffer {
        guard let message = try? STUNMessage(decoding: datagram) else {
            return datagram
        }
        let key: [UInt8]
        if fromRelay {
            key = LongTermCredentials.key(username: turnUsername, realm: "firezone", password: turnPassword)
        } else {
            // A peer's request is checked with our password, its responses with the peer's.
            key = Array((message.type.class == .request ? localCredentials : remoteCredentials).password.utf8)
        }
        var encoded = ByteBuffer()
        STUNMessageEncoder.encode(
            type: message.type,
            transactionID: message.transactionID,
            attributes: message.attributes,
            messageIntegrityKey: key,
            fingerprint: !fromRelay,
            into: &encoded
        )
        return encoded
    }

    mutating func drain() {
        // Bounded: a relay's answer makes the node send again, but every exchange ends.
        for _ in 0..<64 {
            guard let transmit = self.node.pollTransmit() else {
                break
            }
            let allowed =
                self.reachable.contains(transmit.destination)
                || self.reflexiveIPs.contains(transmit.destination.address)
            check(allowed, "sent to \(transmit.destination), which is no relay, candidate or sender")
            if transmit.destination == relay {
                self.relayNode.handleDatagram(transmit.payload, from: local, to: relay, now: self.now)
                while let answer = self.relayNode.pollTransmit(now: self.now) {
                    guard answer.destination == local else {
                        continue
                    }
                    var datagram = answer.payload
                    _ = try? self.node.decapsulate(&datagram, from: answer.source, local: local, now: self.now)
                }
            }
        }
        while let event = self.node.pollEvent() {
            switch event {
            case .newIceCandidates(_, let candidates), .invalidatedIceCandidates(_, let candidates):
                for sdp in candidates {
                    check((try? Candidate(parsing: sdp)) != nil, "the node signalled \(sdp), which does not parse")
                }
            default:
                break
            }
        }
        if let deadline = self.node.pollTimeout()?.deadline {
            // A deadline in the past is due at once; it must not go backwards past what already ran.
            check(deadline >= Instant.zero, "deadline \(deadline)")
        }
    }
}
