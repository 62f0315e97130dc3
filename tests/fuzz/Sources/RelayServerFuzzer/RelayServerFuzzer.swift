import FirezoneTesting
import FirezoneTime
import FuzzSupport
import IPPacket
import Logging
import NIOCore
import RelayCore
import STUN

// The `relay-server` fuzz target: the relay's sans-IO TURN server fed a sequence of datagrams.
//
// Input: records of `[op: UInt8][length: UInt16, big endian][length bytes]` (a short last record takes what is
// left). The op's bits choose:
// - 0–1: which of four clients (two IPv4, two IPv6; clients 0 and 2 share a username, so in portal mode one
//   replaces the other's allocation, and standalone they share a quota) sends the datagram;
// - 2: the datagram arrives from a peer on an allocation port instead (the port picked among the open ones by
//   the first byte, the peer among four by the second);
// - 3: "authenticate": if the bytes decode as a STUN message, they are sent re-encoded with the client's valid
//   USERNAME, REALM, the latest NONCE the relay handed out, and MESSAGE-INTEGRITY, so that the fuzzer reaches
//   ALLOCATE, REFRESH and CHANNEL-BIND past authentication;
// - 4–7: first advance the clock by that many times 37 s and run the server's timers.
// An input of even length runs the relay in portal mode, an odd one standalone, with limits small enough to reach
// (two allocations per username, three channels per allocation, five in all). The fuzzer's shell fails to open
// every fifth port.
//
// Invariants, any violation a `fatalError`: nothing traps; every STUN request gets exactly one response, to its
// sender, with its transaction ID and method; nothing else gets a response; ports are opened only when closed and
// closed only when open; channel bindings are created and deleted in pairs; relayed data goes only through a
// binding the commands announced (client, channel, peer and allocation port all matching) on an open port; the
// next timeout is never earlier than the last `now`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var records = Records(UnsafeBufferPointer(start: start, count: start == nil ? 0 : count))
    var run = Run(mode: count % 2 == 0 ? .portal : .standalone)
    while let (op, bytes) = records.next() {
        run.step(op: op, bytes: bytes)
    }
    return 0
}

struct Records {
    let input: UnsafeBufferPointer<UInt8>
    var offset = 0

    init(_ input: UnsafeBufferPointer<UInt8>) {
        self.input = input
    }

    /// The next record's op and its bytes, a view into the input (valid until `LLVMFuzzerTestOneInput` returns).
    mutating func next() -> (UInt8, UnsafeBufferPointer<UInt8>)? {
        guard self.offset + 3 <= self.input.count else {
            return nil
        }
        let op = self.input[self.offset]
        let declared = Int(self.input[self.offset + 1]) << 8 | Int(self.input[self.offset + 2])
        let start = self.offset + 3
        let end = min(start + declared, self.input.count)
        self.offset = end
        return (op, UnsafeBufferPointer(rebasing: self.input[start..<end]))
    }
}

struct Binding: Hashable {
    var client: ClientSocket
    var channel: ChannelNumber
    var peer: PeerSocket
    var port: AllocationPort
}

struct OpenPort: Hashable {
    var port: AllocationPort
    var family: IPVersion
}

struct Run {
    static let secret = "fuzz-secret"
    static let unixStart: Duration = .seconds(1_700_000_000)
    static let clients = [
        ClientSocket(IPSocketAddress("198.51.100.1:40000")!),
        ClientSocket(IPSocketAddress("198.51.100.2:40001")!),
        ClientSocket(IPSocketAddress("[2001:db8:1::1]:40000")!),
        ClientSocket(IPSocketAddress("[2001:db8:1::2]:40001")!),
    ]
    static let peers = [
        PeerSocket(IPSocketAddress("192.0.2.10:5000")!),
        PeerSocket(IPSocketAddress("192.0.2.11:5001")!),
        PeerSocket(IPSocketAddress("[2001:db8:2::10]:5000")!),
        PeerSocket(IPSocketAddress("[2001:db8:2::11]:5001")!),
    ]
    /// Clients 0 and 2 share the first username; 1 and 3 the second. Valid for a day from the start.
    static let credentials = [
        RelayCredentials.mint(expiry: 1_700_086_400, salt: "even", secret: secret),
        RelayCredentials.mint(expiry: 1_700_086_400, salt: "odd", secret: secret),
    ]
    static let keys = credentials.map {
        LongTermCredentials.key(username: $0.username, realm: "firezone", password: $0.password)
    }

    var server: RelayServer<SeededRandomNumberGenerator>
    var now = Instant.zero
    var nonce: String?
    var openPorts: Set<OpenPort> = []
    var bindings: Set<Binding> = []

    typealias Configuration = RelayServer<SeededRandomNumberGenerator>.Configuration

    /// Built once per mode: parsing the addresses and making a logger for every input cost a fifth of the
    /// target's time.
    static let portal = Run.configuration(.portal)
    static let standalone = Run.configuration(.standalone)

    /// Limits small enough that the inputs reach them.
    static func configuration(_ mode: Configuration.Mode) -> Configuration {
        var limits = RelayLimits()
        limits.allocationsPerUsername = 2
        limits.channelBindingsPerAllocation = 3
        limits.channelBindings = 5
        return Configuration(
            publicIPv4: IPv4Address("203.0.113.1")!,
            publicIPv6: IPv6Address("2001:db8::1")!,
            allocationPorts: 49_152...49_200,
            authSecret: Run.secret,
            software: "firezone-relay; rev=fuzzfuzz",
            mode: mode,
            limits: limits
        )
    }

    static let logger = Logger(label: "relay-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    init(mode: Configuration.Mode) {
        self.server = RelayServer(
            configuration: mode == .portal ? Run.portal : Run.standalone,
            rng: SeededRandomNumberGenerator(seed: 1),
            now: .zero,
            unixTime: Run.unixStart,
            logger: Run.logger
        )
    }

    mutating func step(op: UInt8, bytes: UnsafeBufferPointer<UInt8>) {
        let advance = Int64(op >> 4) * 37
        if advance > 0 {
            self.now += .seconds(advance)
            self.server.handleTimeout(now: self.now)
            self.applyCommands(expectingResponseTo: nil)
        }
        let clientIndex = Int(op & 0b11)
        if op & 0b100 != 0 {
            self.peerInput(bytes)
        } else {
            let datagram = op & 0b1000 != 0 ? self.authenticated(bytes, client: clientIndex) : ByteBuffer(bytes: bytes)
            self.clientInput(datagram, from: Self.clients[clientIndex])
        }
        if let timeout = self.server.pollTimeout() {
            check(timeout.deadline >= self.now, "a timeout (\(timeout.reason)) earlier than now")
        }
    }

    mutating func clientInput(_ datagram: ByteBuffer, from client: ClientSocket) {
        let request = RequestIdentity(datagram)
        switch self.server.handleClientInput(datagram, from: client, now: self.now) {
        case .forward(let payload, let port, let peer):
            let channel = ChannelNumber(datagram.getInteger(at: datagram.readerIndex, as: UInt16.self)!)
            check(
                self.bindings.contains(Binding(client: client, channel: channel, peer: peer, port: port)),
                "channel data relayed without an announced binding"
            )
            check(
                self.openPorts.contains { $0.port == port && $0.family == peer.address.address.version },
                "relayed from a closed port"
            )
            let declared = Int(datagram.getInteger(at: datagram.readerIndex + 2, as: UInt16.self)!)
            check(payload.readableBytes == declared, "relayed \(payload.readableBytes) bytes of \(declared)")
        case .loopBack(let payload, let target, let channel):
            check(
                self.bindings.contains { $0.client == target && $0.channel == channel },
                "channel data looped back on a channel never announced"
            )
            let declared = Int(datagram.getInteger(at: datagram.readerIndex + 2, as: UInt16.self)!)
            check(payload.readableBytes == declared, "looped back \(payload.readableBytes) bytes of \(declared)")
        case .handled, .dropped:
            break
        }
        self.applyCommands(expectingResponseTo: request.map { ($0, client) })
    }

    mutating func peerInput(_ bytes: UnsafeBufferPointer<UInt8>) {
        let open = self.openPorts.sorted { ($0.port, $0.family == .v4 ? 0 : 1) < ($1.port, $1.family == .v4 ? 0 : 1) }
        let port = open.isEmpty ? AllocationPort(49_152) : open[Int(bytes.first ?? 0) % open.count].port
        let peer = Self.peers[Int(bytes.dropFirst().first ?? 0) % Self.peers.count]
        switch self.server.handlePeerInput(length: bytes.count, from: peer, to: port, now: self.now) {
        case .forward(let client, let channel):
            check(
                self.bindings.contains(Binding(client: client, channel: channel, peer: peer, port: port)),
                "peer data relayed without an announced binding"
            )
        case .dropped:
            break
        }
        self.applyCommands(expectingResponseTo: nil)
    }

    /// The bytes as a STUN message re-encoded with valid credentials, or as they are if they do not decode.
    mutating func authenticated(_ bytes: UnsafeBufferPointer<UInt8>, client: Int) -> ByteBuffer {
        let original = ByteBuffer(bytes: bytes)
        guard let message = try? STUNMessage(decoding: original) else {
            return original
        }
        let credentials = Self.credentials[client % 2]
        var attributes = message.attributes.filter {
            switch $0 {
            case .username, .realm, .nonce: false
            default: true
            }
        }
        attributes += [.username(credentials.username), .realm("firezone"), .nonce(self.nonce ?? "")]
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: message.type,
            transactionID: message.transactionID,
            attributes: attributes,
            messageIntegrityKey: Self.keys[client % 2],
            fingerprint: message.hasFingerprint,
            into: &buffer
        )
        return buffer
    }

    /// Drains the server's commands, checking them against what was open and bound before.
    mutating func applyCommands(expectingResponseTo request: (RequestIdentity, ClientSocket)?) {
        var responses = 0
        let rateLimited = self.server.stats.drops(.rateLimited)
        while let command = self.server.pollCommand() {
            switch command {
            case .sendMessage(let bytes, let destination):
                responses += 1
                guard let (identity, sender) = request else {
                    fatalError("a message sent that answers no request")
                }
                check(destination == sender, "a response sent to another client")
                let response: STUNMessage
                do {
                    response = try STUNMessage(decoding: bytes)
                } catch {
                    fatalError("the relay sent a message that does not decode: \(error)")
                }
                check(response.transactionID == identity.transactionID, "a response with another transaction ID")
                check(response.type.method == identity.method, "a \(response.type) answers a \(identity.method)")
                check(
                    response.type.class == .successResponse || response.type.class == .errorResponse,
                    "a \(response.type.class) sent as a response"
                )
                if let nonce = response.nonce {
                    self.nonce = nonce
                }
            case .createAllocation(let port, let family):
                // A shell sometimes cannot bind a port (another program holds it): every fifth port fails here.
                if port.value % 5 == 0 {
                    self.server.handleAllocationPortFailed(port, family, now: self.now)
                } else {
                    check(
                        self.openPorts.insert(OpenPort(port: port, family: family)).inserted,
                        "port \(port) opened twice"
                    )
                    self.server.handleAllocationPortOpened(port, family, now: self.now)
                }
            case .freeAllocation(let port, let family):
                check(
                    self.openPorts.remove(OpenPort(port: port, family: family)) != nil,
                    "port \(port) closed, not open"
                )
            case .createChannelBinding(let client, let channel, let peer, let port):
                let binding = Binding(client: client, channel: channel, peer: peer, port: port)
                check(self.bindings.insert(binding).inserted, "binding \(channel) created twice")
            case .refreshChannelBinding(let client, let channel, let peer, let port):
                let binding = Binding(client: client, channel: channel, peer: peer, port: port)
                check(self.bindings.contains(binding), "binding \(channel) refreshed, not created")
            case .deleteChannelBinding(let client, let channel, let peer, let port):
                let binding = Binding(client: client, channel: channel, peer: peer, port: port)
                check(self.bindings.remove(binding) != nil, "binding \(channel) deleted, not created")
            }
        }
        if request != nil {
            // A reply the relay's rate limit held back is counted instead of sent.
            let limited = Int(self.server.stats.drops(.rateLimited) - rateLimited)
            check(responses + limited == 1, "a request got \(responses) responses and \(limited) rate-limited")
        }
    }
}

/// The transaction ID and method of a datagram whose header is that of a STUN request (RFC 8489 §5), whether or not its
/// attributes decode: the relay answers both. Only first bytes 0–3 are STUN on the relay's port (as in Firezone's
/// rust/relay/server/src/server/client_message.rs; RFC 7983 §7): a request type of 0x0400 or more is dropped
/// unanswered.
struct RequestIdentity {
    var transactionID: TransactionID
    var method: STUNMethod

    init?(_ datagram: ByteBuffer) {
        guard datagram.readableBytes >= 20,
            let rawType = datagram.getInteger(at: datagram.readerIndex, as: UInt16.self),
            datagram.getInteger(at: datagram.readerIndex + 4, as: UInt32.self) == 0x2112_A442,
            rawType < 0x0400,
            let type = STUNMessageType(rawValue: rawType), type.class == .request,
            let high = datagram.getInteger(at: datagram.readerIndex + 8, as: UInt32.self),
            let low = datagram.getInteger(at: datagram.readerIndex + 12, as: UInt64.self)
        else {
            return nil
        }
        // The two integers, not `TransactionID(bytes:)`: that generic initializer costs more than the whole check.
        self.transactionID = TransactionID(high: high, low: low)
        self.method = type.method
    }
}
