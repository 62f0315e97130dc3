import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import RelayCore
import STUN
import Testing

/// A relay server on a virtual clock, and helpers to talk to it as a TURN client would.
struct RelayHarness {
    static let secret = "1cab293a-4032-46f4-862a-40e5d174b0d2"
    /// 2023-06-05: credentials minted with a later expiry are valid at the start.
    static let unixStart: Duration = .seconds(1_685_984_000)
    static let publicIPv4 = IPv4Address("203.0.113.1")!
    static let publicIPv6 = IPv6Address("2001:db8::1")!

    var server: RelayServer<SeededRandomNumberGenerator>
    var now = Instant.zero
    var rng = SeededRandomNumberGenerator(seed: 99)
    /// Whether ``drain()`` plays the shell and reports every port the relay asks to open as opened (or failed,
    /// for ports in `failingPorts`).
    var opensPorts = true
    var failingPorts: Set<AllocationPort> = []

    init(
        ipv4: Bool = true,
        ipv6: Bool = true,
        ports: ClosedRange<UInt16> = RelayConstants.defaultAllocationPorts,
        seed: UInt64 = 1,
        mode: RelayServer<SeededRandomNumberGenerator>.Configuration.Mode = .standalone,
        limits: RelayLimits = RelayLimits(),
        deniedPeerRanges: [IPNetwork] = []
    ) {
        self.server = RelayServer(
            configuration: .init(
                publicIPv4: ipv4 ? Self.publicIPv4 : nil,
                publicIPv6: ipv6 ? Self.publicIPv6 : nil,
                allocationPorts: ports,
                authSecret: Self.secret,
                software: "firezone-relay; rev=testtest",
                mode: mode,
                limits: limits,
                deniedPeerRanges: deniedPeerRanges
            ),
            rng: SeededRandomNumberGenerator(seed: seed),
            now: .zero,
            unixTime: Self.unixStart,
            logger: Logger(label: "relay-test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    static func credentials(
        expiry: UInt64 = 1_685_990_000,
        salt: String = "salt"
    ) -> (username: String, password: String) {
        RelayCredentials.mint(expiry: expiry, salt: salt, secret: Self.secret)
    }

    /// All commands queued since the last call.
    mutating func drain() -> [RelayCommand] {
        var commands: [RelayCommand] = []
        while let command = self.server.pollCommand() {
            commands.append(command)
            if self.opensPorts, case .createAllocation(let port, let family) = command {
                if self.failingPorts.contains(port) {
                    self.server.handleAllocationPortFailed(port, family, now: self.now)
                } else {
                    self.server.handleAllocationPortOpened(port, family, now: self.now)
                }
            }
        }
        return commands
    }

    /// Sends a request and returns the decoded response, failing the test if there is not exactly one.
    mutating func request(
        _ method: STUNMethod,
        from client: ClientSocket,
        attributes: [STUNAttribute] = [],
        key: [UInt8]? = nil,
        otherCommands: inout [RelayCommand]
    ) throws -> STUNMessage {
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: method, class: .request),
            transactionID: TransactionID(using: &self.rng),
            attributes: attributes,
            messageIntegrityKey: key,
            fingerprint: false,
            into: &buffer
        )
        return try self.send(buffer, from: client, otherCommands: &otherCommands)
    }

    mutating func request(
        _ method: STUNMethod,
        from client: ClientSocket,
        attributes: [STUNAttribute] = [],
        key: [UInt8]? = nil
    ) throws -> STUNMessage {
        var ignored: [RelayCommand] = []
        return try self.request(method, from: client, attributes: attributes, key: key, otherCommands: &ignored)
    }

    mutating func send(
        _ datagram: ByteBuffer,
        from client: ClientSocket,
        otherCommands: inout [RelayCommand]
    ) throws
        -> STUNMessage
    {
        #expect(self.server.handleClientInput(datagram, from: client, now: self.now) == .handled)
        var responses: [STUNMessage] = []
        for command in self.drain() {
            if case .sendMessage(let bytes, let destination) = command {
                #expect(destination == client)
                responses.append(try STUNMessage(decoding: bytes))
            } else {
                otherCommands.append(command)
            }
        }
        try #require(responses.count == 1, "one response per request")
        return responses[0]
    }

    /// An authenticated request: a first attempt without credentials fetches the nonce, as clients do.
    mutating func authenticated(
        _ method: STUNMethod,
        from client: ClientSocket,
        attributes: [STUNAttribute] = [],
        credentials: (username: String, password: String) = credentials(),
        otherCommands: inout [RelayCommand]
    ) throws -> STUNMessage {
        let challenge = try self.request(method, from: client, attributes: attributes)
        #expect(challenge.errorCode?.code == 401)
        let nonce = try #require(challenge.nonce)
        let key = LongTermCredentials.key(
            username: credentials.username,
            realm: "firezone",
            password: credentials.password
        )
        let response = try self.request(
            method,
            from: client,
            attributes: attributes + [.username(credentials.username), .realm("firezone"), .nonce(nonce)],
            key: key,
            otherCommands: &otherCommands
        )
        // Refusals (401, 438) cannot be signed with a key the relay did not accept; everything else is.
        if ![401, 438].contains(response.errorCode?.code) {
            #expect(response.verifyMessageIntegrity(key: key), "an authenticated request gets a signed response")
        }
        return response
    }

    mutating func authenticated(
        _ method: STUNMethod,
        from client: ClientSocket,
        attributes: [STUNAttribute] = [],
        credentials: (username: String, password: String) = credentials()
    ) throws -> STUNMessage {
        var ignored: [RelayCommand] = []
        return try self.authenticated(
            method,
            from: client,
            attributes: attributes,
            credentials: credentials,
            otherCommands: &ignored
        )
    }

    /// Allocates for `client` and returns the relay port.
    mutating func allocate(
        _ client: ClientSocket,
        attributes: [STUNAttribute] = [],
        credentials: (username: String, password: String) = credentials()
    ) throws -> AllocationPort {
        let response = try self.authenticated(
            .allocate,
            from: client,
            attributes: [.requestedTransport(17)] + attributes,
            credentials: credentials
        )
        let relayed = try #require(
            response.xorRelayedAddresses.first,
            "allocation succeeded: \(response.errorCode?.code ?? 0)"
        )
        return AllocationPort(relayed.port)
    }

    mutating func bind(_ client: ClientSocket, channel: UInt16, to peer: PeerSocket) throws -> STUNMessage {
        try self.authenticated(
            .channelBind,
            from: client,
            attributes: [.channelNumber(channel), .xorPeerAddress(peer.address)]
        )
    }

    mutating func advance(by duration: Duration) {
        self.now += duration
        self.server.handleTimeout(now: self.now)
    }
}

func client(_ text: String) -> ClientSocket {
    ClientSocket(IPSocketAddress(text)!)
}

func peer(_ text: String) -> PeerSocket {
    PeerSocket(IPSocketAddress(text)!)
}

func channelData(_ channel: UInt16, _ payload: String, padding: Int = 0) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(channel)
    buffer.writeInteger(UInt16(payload.utf8.count))
    buffer.writeString(payload)
    buffer.writeRepeatingByte(0, count: padding)
    return buffer
}
