import FirezoneCrypto
import FirezoneTesting
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import SimulatedRelay
import Snownet
import TURNClient
import WireGuard

/// One gateway ``Node`` with a connection to each of `clients` client nodes, one relay (our `RelayServer`) that
/// both sides allocate on, and a lossless network without latency that carries every datagram in the order it
/// was sent. Candidates go to the other node once the datagrams in flight are delivered, as the portal would carry
/// them.
///
/// Hosts are public: the gateway at 192.0.2.10, the relay at 203.0.113.1, client `i` at 11.(i / 256).(i % 256).1,
/// each in a /24 of its own (the relay rate-limits unauthenticated replies per /24). With `directBlocked`,
/// datagrams between the gateway and a client are dropped, so ICE can only nominate a pair through the relay.
struct NodeNetwork {
    typealias PeerNode = Node<Int, Int>

    /// A client's ID for its one connection, and every node's ID for the relay.
    static let gatewayID = 0
    static let relayID = 0
    static let relaySocket = IPSocketAddress(IPAddress("203.0.113.1")!, port: RelayNode.listeningPort)
    static let gatewaySocket = IPSocketAddress(IPAddress("192.0.2.10")!, port: 52625)
    static let clientPort: UInt16 = 52625
    static let presharedKey = PresharedKey(Bytes32((0..<32).map { UInt8($0) &* 13 &+ 1 })!)

    var clock = FluxCapacitor(now: .zero + .seconds(1))
    var relay: RelayNode
    var gateway: PeerNode
    var clients: [PeerNode] = []
    var directBlocked: Bool
    /// Datagrams the gateway and the clients sent each other directly (not through the relay), by kind.
    var gatewaySent = SentCounts()
    var clientsSent = SentCounts()
    /// Per connection: ICE requests the gateway sent on it, ICE requests its client sent, the client's keep-alives.
    var perConnection: [(gatewayChecks: Int, clientChecks: Int, clientKeepalives: Int)] = []
    private var clientIndex: [IPSocketAddress: Int] = [:]
    /// Candidates on their way to the other side: delivered after the datagrams in flight, so that both sides of a
    /// connection exist by then (as the portal's messages take longer than a node's upsert).
    private var signals: [(toGateway: Bool, client: Int, candidates: [String])] = []
    /// Connections that failed, by side and cause.
    var failures: [String: Int] = [:]
    private var inFlight: [(source: IPSocketAddress, destination: IPSocketAddress, payload: ByteBuffer)] = []
    private var nextInFlight = 0
    private let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

    var now: Instant {
        self.clock.now
    }

    static func secret(client index: Int) -> StaticSecret {
        StaticSecret(Bytes32((0..<32).map { UInt8(truncatingIfNeeded: index >> (8 * ($0 % 4))) &+ UInt8($0) &* 7 })!)
    }

    static let gatewaySecret = StaticSecret(Bytes32((0..<32).map { UInt8($0) &* 11 &+ 5 })!)

    static func seed(_ index: Int, _ salt: UInt8) -> Bytes32 {
        Bytes32((0..<32).map { UInt8(truncatingIfNeeded: index >> (8 * ($0 % 4))) &+ UInt8($0) &* 5 &+ salt })!
    }

    static func clientSocket(_ index: Int) -> IPSocketAddress {
        IPSocketAddress(IPAddress("11.\(index / 256).\(index % 256).1")!, port: Self.clientPort)
    }

    static func gatewayCredentials(_ index: Int) -> IceCredentials {
        IceCredentials(ufrag: "g\(index)", password: "gateway-password-\(index)-0123456789")
    }

    static func clientCredentials(_ index: Int) -> IceCredentials {
        IceCredentials(ufrag: "c\(index)", password: "client-password-\(index)-0123456789")
    }

    init(directBlocked: Bool = false) {
        self.directBlocked = directBlocked
        self.relay = RelayNode(
            addresses: [Self.relaySocket.address],
            seed: 7,
            clock: self.clock,
            logger: self.logger
        )
        self.gateway = PeerNode(
            role: .gateway,
            secret: Self.gatewaySecret,
            seed: Self.seed(0, 1),
            logger: self.logger,
            now: self.clock.now,
            unixTime: self.clock.unixTime
        )
        let server = self.turnServer(salt: "gateway")
        self.gateway.updateRelays(removing: [], adding: [server], now: self.now)
        self.drainGateway()
        self.deliver()
    }

    func turnServer(salt: String) -> TURNServer<Int> {
        let credentials = RelayNode.credentials(clock: self.clock, salt: salt)
        return TURNServer(
            id: Self.relayID,
            socket: .v4(Self.relaySocket),
            username: credentials.username,
            password: credentials.password,
            realm: "firezone"
        )
    }

    /// Adds `count` clients, lets them allocate, connects each to the gateway (`perSecond` of them a second, so that
    /// their timers, rekeying included, do not all fire at once; all at once when nil) and runs until every
    /// connection is established on both sides.
    mutating func connectClients(_ count: Int, perSecond: Int? = nil) {
        let first = self.clients.count
        for index in first..<first + count {
            var client = PeerNode(
                role: .client,
                secret: Self.secret(client: index),
                seed: Self.seed(index, 2),
                logger: self.logger,
                now: self.now,
                unixTime: self.clock.unixTime
            )
            client.updateRelays(removing: [], adding: [self.turnServer(salt: "client-\(index)")], now: self.now)
            self.clients.append(client)
            self.clientIndex[Self.clientSocket(index)] = index
            self.perConnection.append((0, 0, 0))
            self.drainClient(index)
            self.deliver()
        }
        self.run(for: .seconds(1))
        for index in first..<first + count {
            if let perSecond, index > first, (index - first) % perSecond == 0 {
                self.run(for: .seconds(1), step: .milliseconds(100))
            }
            try! self.gateway.upsertConnection(
                index,
                remoteKey: LocalIdentity(secret: Self.secret(client: index)).publicKey,
                presharedKey: Self.presharedKey,
                local: Self.gatewayCredentials(index),
                remote: Self.clientCredentials(index),
                now: self.now
            )
            self.drainGateway()
            try! self.clients[index].upsertConnection(
                Self.gatewayID,
                remoteKey: LocalIdentity(secret: Self.gatewaySecret).publicKey,
                presharedKey: Self.presharedKey,
                local: Self.clientCredentials(index),
                remote: Self.gatewayCredentials(index),
                now: self.now
            )
            self.drainClient(index)
            self.deliver()
        }
        for _ in 0..<100 {
            self.run(for: .milliseconds(100))
            if (first..<first + count).allSatisfy({
                self.gateway.isEstablished($0) && self.clients[$0].isEstablished(Self.gatewayID)
            }) {
                return
            }
        }
        let established = (first..<first + count).filter { self.gateway.isEstablished($0) }.count
        fatalError("\(established) of \(count) connections established after 10 s; failures: \(self.failures)")
    }

    /// Advances the clock in steps of `step`, firing every due timer at the end of each step.
    mutating func run(for duration: Duration, step: Duration = .milliseconds(10)) {
        let end = self.now + duration
        while self.now < end {
            self.clock.advance(to: min(end, self.now + step))
            let now = self.now
            if let deadline = self.relay.pollTimeout(), deadline <= now {
                self.relay.handleTimeout(now: now, unixTime: self.clock.unixTime)
                self.drainRelay()
            }
            if let deadline = self.gateway.pollTimeout()?.deadline, deadline <= now {
                self.gateway.handleTimeout(now: now, unixTime: self.clock.unixTime)
                self.drainGateway()
            }
            for index in self.clients.indices {
                if let deadline = self.clients[index].pollTimeout()?.deadline, deadline <= now {
                    self.clients[index].handleTimeout(now: now, unixTime: self.clock.unixTime)
                    self.drainClient(index)
                }
            }
            self.deliver()
        }
    }

    /// Hands every datagram in flight to its destination, and what that sends in turn.
    mutating func deliver() {
        while self.nextInFlight < self.inFlight.count || !self.signals.isEmpty {
            if self.nextInFlight == self.inFlight.count {
                self.inFlight.removeAll(keepingCapacity: true)
                self.nextInFlight = 0
                self.signal()
                continue
            }
            let (source, destination, payload) = self.inFlight[self.nextInFlight]
            self.inFlight[self.nextInFlight].payload = ByteBuffer()
            self.nextInFlight += 1
            var datagram = payload
            if destination.address == Self.relaySocket.address {
                self.relay.handleDatagram(datagram, from: source, to: destination, now: self.now)
                self.drainRelay()
            } else if destination == Self.gatewaySocket {
                _ = try? self.gateway.decapsulate(&datagram, from: source, local: destination, now: self.now)
                self.drainGateway()
            } else if let index = self.clientIndex[destination] {
                _ = try? self.clients[index].decapsulate(&datagram, from: source, local: destination, now: self.now)
                self.drainClient(index)
            }
        }
        self.inFlight.removeAll(keepingCapacity: true)
        self.nextInFlight = 0
    }

    private mutating func signal() {
        let signals = self.signals
        self.signals.removeAll()
        for (toGateway, index, candidates) in signals {
            if toGateway {
                _ = try? self.gateway.addRemoteCandidates(candidates, for: index, now: self.now)
                self.drainGateway()
            } else {
                _ = try? self.clients[index].addRemoteCandidates(candidates, for: Self.gatewayID, now: self.now)
                self.drainClient(index)
            }
        }
    }

    private mutating func send(_ source: IPSocketAddress, _ destination: IPSocketAddress, _ payload: ByteBuffer) {
        let direct = source.address != Self.relaySocket.address && destination.address != Self.relaySocket.address
        if direct && self.directBlocked {
            return
        }
        self.inFlight.append((source, destination, payload))
    }

    private mutating func drainRelay() {
        while let transmit = self.relay.pollTransmit(now: self.now) {
            self.send(transmit.source, transmit.destination, transmit.payload)
        }
    }

    private mutating func drainGateway() {
        while let transmit = self.gateway.pollTransmit() {
            if let index = self.clientIndex[transmit.destination] {
                self.gatewaySent.count(transmit.payload, to: transmit.destination)
                if SentCounts.isICERequest(transmit.payload) {
                    self.perConnection[index].gatewayChecks += 1
                }
            }
            self.send(transmit.source ?? Self.gatewaySocket, transmit.destination, transmit.payload)
        }
        while let event = self.gateway.pollEvent() {
            switch event {
            case .newIceCandidates(let id, let candidates):
                self.signals.append((false, id, candidates))
            case .connectionFailed(_, let cause):
                self.failures["gateway: \(cause)", default: 0] += 1
            default:
                break
            }
        }
    }

    private mutating func drainClient(_ index: Int) {
        while let transmit = self.clients[index].pollTransmit() {
            if transmit.destination == Self.gatewaySocket {
                self.clientsSent.count(transmit.payload, to: transmit.destination)
                if SentCounts.isICERequest(transmit.payload) {
                    self.perConnection[index].clientChecks += 1
                }
                if SentCounts.isKeepalive(transmit.payload) {
                    self.perConnection[index].clientKeepalives += 1
                }
            }
            self.send(transmit.source ?? Self.clientSocket(index), transmit.destination, transmit.payload)
        }
        while let event = self.clients[index].pollEvent() {
            switch event {
            case .newIceCandidates(_, let candidates):
                self.signals.append((true, index, candidates))
            case .connectionFailed(_, let cause):
                self.failures["client: \(cause)", default: 0] += 1
            default:
                break
            }
        }
    }

    /// A datagram `from` sends to `to`'s connection, as it arrives at `to`: straight from `from`, or from the relay
    /// when `from` sends it to a relayed address.
    mutating func datagram(
        sealing packet: inout ByteBuffer,
        fromGateway: Bool,
        connection: Int
    ) -> (datagram: ByteBuffer, source: IPSocketAddress, local: IPSocketAddress) {
        let destination: NodeDestination?
        let sender: IPSocketAddress
        if fromGateway {
            destination = try! self.gateway.encapsulate(&packet, for: connection, now: self.now)
            sender = Self.gatewaySocket
        } else {
            destination = try! self.clients[connection].encapsulate(&packet, for: Self.gatewayID, now: self.now)
            sender = Self.clientSocket(connection)
        }
        guard let destination else {
            preconditionFailure("the packet was sealed")
        }
        guard destination.destination.address == Self.relaySocket.address else {
            return (packet, destination.source ?? sender, destination.destination)
        }
        self.relay.handleDatagram(
            packet,
            from: destination.source ?? sender,
            to: destination.destination,
            now: self.now
        )
        guard let forwarded = self.relay.pollTransmit(now: self.now) else {
            preconditionFailure("the relay forwarded the datagram")
        }
        precondition(self.relay.pollTransmit(now: self.now) == nil, "the relay sent one datagram")
        return (forwarded.payload, forwarded.source, forwarded.destination)
    }
}
