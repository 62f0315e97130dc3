import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN
import TURNClient
import Testing

/// An ``Allocation`` on a clock, with a hand-driven TURN server: the test reads what the allocation sent and builds
/// each response with the STUN encoder, or lets ``answer(_:)`` give the standard one.
struct ScriptedServer {
    static let serverV4 = IPSocketAddress("203.0.113.1:3478")!
    static let serverV6 = IPSocketAddress("[2001:db8::1]:3478")!
    static let localV4 = IPSocketAddress("192.168.1.2:40000")!
    static let localV6 = IPSocketAddress("[2001:db8:1::2]:40000")!
    static let mappedV4 = IPSocketAddress("198.51.100.7:50000")!
    static let mappedV6 = IPSocketAddress("[2001:db8:1::2]:40000")!
    static let relayedV4 = IPSocketAddress("203.0.113.1:50001")!
    static let relayedV6 = IPSocketAddress("[2001:db8::1]:50001")!
    static let username = "1700000000:salt"
    static let password = "secret"
    static let realm = "firezone"
    static let software = "snownet; test"
    static let key = LongTermCredentials.key(username: username, realm: realm, password: password)
    static let silent = Logger(label: "turn-client-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    var allocation: Allocation
    var now: Instant = .zero
    /// The server's current nonce.
    var nonce = "nonce-1"
    /// LIFETIME in ALLOCATE and REFRESH responses.
    var lifetime: UInt32 = 600
    private var seed: UInt64 = 7

    init(server: RelaySocket = .v4(Self.serverV4), realm: String = Self.realm) {
        self.allocation = Allocation(
            server: server,
            username: Self.username,
            password: Self.password,
            realm: realm,
            software: Self.software,
            seed: 42,
            now: .zero,
            logger: Self.silent
        )
    }

    // MARK: Reading what the allocation sent

    struct Sent {
        var destination: IPSocketAddress
        var message: STUNMessage
        var bytes: ByteBuffer
    }

    /// Everything the allocation sent since the last call, decoded.
    mutating func sent() throws -> [Sent] {
        var sent: [Sent] = []
        while let transmit = self.allocation.pollTransmit() {
            sent.append(
                Sent(
                    destination: transmit.destination,
                    message: try STUNMessage(decoding: transmit.payload),
                    bytes: transmit.payload
                )
            )
        }
        return sent
    }

    mutating func events() -> [AllocationEvent] {
        var events: [AllocationEvent] = []
        while let event = self.allocation.pollEvent() {
            events.append(event)
        }
        return events
    }

    // MARK: Time

    /// Moves the clock to `instant`, firing every timer due on the way.
    mutating func advance(to instant: Instant) {
        while let deadline = self.allocation.pollTimeout(), deadline <= instant {
            self.now = max(self.now, deadline)
            self.allocation.handleTimeout(now: self.now)
        }
        self.now = instant
        self.allocation.handleTimeout(now: self.now)
    }

    mutating func advance(by duration: Duration) {
        self.advance(to: self.now + duration)
    }

    // MARK: Responses

    /// A response to `request` with `attributes`, signed with `key` when given.
    static func response(
        to request: STUNMessage,
        error: STUNErrorCode? = nil,
        attributes: [STUNAttribute] = [],
        key: [UInt8]? = nil
    ) -> STUNMessage {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: request.type.method, class: error == nil ? .successResponse : .errorResponse),
            transactionID: request.transactionID,
            attributes: (error.map { [.errorCode($0)] } ?? []) + attributes,
            messageIntegrityKey: key,
            into: &buffer
        )
        return try! STUNMessage(decoding: buffer)
    }

    /// Delivers `response` from the server address `request` went to, on the local socket of its family.
    @discardableResult
    mutating func deliver(_ response: STUNMessage, for request: Sent) -> Bool {
        let local = request.destination.address.version == .v4 ? Self.localV4 : Self.localV6
        return self.allocation.handleSTUN(response, from: request.destination, local: local, now: self.now)
    }

    /// What a standard server answers: BINDING the mapped address; an unsigned request 401 with REALM and NONCE; a
    /// signed one success (ALLOCATE with both relayed addresses and LIFETIME, REFRESH with LIFETIME or 0 when asked
    /// for 0), signed.
    func standardResponse(to request: STUNMessage, destination: IPSocketAddress) -> STUNMessage {
        if request.type.method == .binding {
            let mapped = destination.address.version == .v4 ? Self.mappedV4 : Self.mappedV6
            return Self.response(to: request, attributes: [.xorMappedAddress(mapped)])
        }
        guard request.nonce == self.nonce else {
            return Self.response(
                to: request,
                error: request.nonce == nil ? .unauthorized : .staleNonce,
                attributes: [.realm(Self.realm), .nonce(self.nonce)]
            )
        }
        let attributes: [STUNAttribute]
        switch request.type.method {
        case .allocate:
            attributes = [
                .xorRelayedAddress(Self.relayedV4), .xorRelayedAddress(Self.relayedV6),
                .xorMappedAddress(Self.mappedV4), .lifetime(self.lifetime),
            ]
        case .refresh:
            attributes = [.lifetime(request.lifetime == 0 ? 0 : self.lifetime)]
        default:
            attributes = []
        }
        return Self.response(to: request, attributes: attributes, key: Self.key)
    }

    /// Answers every request sent so far the standard way, until the allocation sends nothing more; returns them.
    @discardableResult
    mutating func answerAll() throws -> [Sent] {
        var all: [Sent] = []
        while true {
            try #require(all.count < 10_000, "more than 10 000 requests at \(self.now)")
            let sent = try self.sent()
            guard !sent.isEmpty else {
                return all
            }
            for request in sent {
                self.deliver(self.standardResponse(to: request.message, destination: request.destination), for: request)
            }
            all += sent
        }
    }

    /// Runs BINDING, the 401 and the signed ALLOCATE to success; the events are drained.
    mutating func allocate() throws {
        try self.answerAll()
        _ = self.events()
    }
}

extension ScriptedServer {
    struct Timed {
        var time: Instant
        var sent: Sent
    }

    /// Fires the timers up to `instant` one deadline at a time; every request is handed to `respond` the moment it
    /// is sent and its answer (if any) delivered at once. Returns every request with its time.
    mutating func run(
        until instant: Instant,
        respond: (ScriptedServer, Sent) -> STUNMessage? = {
            $0.standardResponse(to: $1.message, destination: $1.destination)
        }
    ) throws -> [Timed] {
        var log: [Timed] = []
        func drain(_ server: inout ScriptedServer) throws {
            let start = log.count
            while true {
                // A request answered by another without end is a livelock, not a hang of the test run.
                try #require(log.count - start < 10_000, "more than 10 000 requests at \(server.now)")
                let sent = try server.sent()
                guard !sent.isEmpty else {
                    return
                }
                for request in sent {
                    log.append(Timed(time: server.now, sent: request))
                    if let answer = respond(server, request) {
                        server.deliver(answer, for: request)
                    }
                }
            }
        }
        try drain(&self)
        var firedAtThisInstant = 0
        while let deadline = self.allocation.pollTimeout(), deadline <= instant {
            firedAtThisInstant = deadline <= self.now ? firedAtThisInstant + 1 : 0
            try #require(firedAtThisInstant < 10_000, "a timer stays due at \(self.now) after handleTimeout")
            self.now = max(self.now, deadline)
            self.allocation.handleTimeout(now: self.now)
            try drain(&self)
        }
        self.now = instant
        return log
    }
}
