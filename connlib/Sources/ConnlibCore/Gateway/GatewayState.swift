import DequeModule
import FirezoneCrypto
import FirezoneTime
import ICE
import IPPacket
import Logging
import NIOCore
import OrderedCollections
import PortalMessages
import Snownet
import WireGuard

/// The gateway's tunnel state without IO (Firezone's rust/connlib/tunnel/src/gateway.rs).
///
/// It owns a snownet ``Node`` in the gateway role, one ``ClientOnGateway`` per client and the portal's view of
/// them. The shell drives it as snownet's node: portal events go to ``handlePortalEvent(_:now:)``, datagrams from
/// the UDP sockets to ``handleNetworkInput(_:from:local:now:)`` (returning what to write to the TUN device), packets
/// read from the TUN device to ``handleTUNInput(_:now:)``, resolved domains to
/// ``handleDomainResolved(_:addresses:now:)``, and ``handleTimeout(now:unixTime:)`` when ``pollTimeout()`` is due.
/// After every input it drains ``pollTransmit()`` (datagrams to send) and ``pollEvent()`` (portal messages, DNS
/// resolutions, TUN configuration).
///
/// The gateway only answers: it sends to a client only in reply to the client's traffic or to the resources'
/// replies on the flows the client opened, and never buffers a packet while a connection is being set up.
public struct GatewayState {
    private var node: Node<ClientID, RelayID>
    private var clients: OrderedDictionary<ClientID, ClientOnGateway> = [:]
    /// Which client owns a tunnel address, to route the resources' packets.
    private var clientByAddress: [IPAddress: ClientID] = [:]
    /// The position in `clients` of the client of the last datagram and of the last TUN packet's destination: a
    /// flow's packets come one after another, and its client is then found without hashing its ID or address.
    /// Positions move when a client is added or removed, which clears both (``clientsChanged()``); a hit is checked
    /// against the client's ID or address all the same.
    private var lastNetworkClient: Int?
    private var lastTUNClient: Int?
    private var interface: GatewayInterface?
    private var transmits: Deque<NodeTransmit> = []
    private var events: Deque<GatewayEvent> = []
    private var nextAuthorizationCheck: Instant
    private var lastNow: Instant
    private var isClosing = false
    public private(set) var stats = GatewayStats()
    private let logger: Logger

    public init(secret: StaticSecret, seed: Bytes32, logger: Logger, now: Instant, unixTime: Duration) {
        self.node = Node(role: .gateway, secret: secret, seed: seed, logger: logger, now: now, unixTime: unixTime)
        self.logger = logger
        self.lastNow = now
        self.nextAuthorizationCheck = now + GatewayConstants.authorizationCheckInterval
    }

    public var publicKey: PublicKey {
        self.node.publicKey
    }

    /// snownet's counters (refused datagrams, packets dropped while connecting).
    public var nodeStats: NodeStats {
        self.node.stats
    }

    /// The clients the gateway keeps state for, in the order they were first authorized.
    public var clientIDs: [ClientID] {
        Array(self.clients.keys)
    }

    public func client(_ id: ClientID) -> ClientOnGateway? {
        self.clients[id]
    }

    public func isConnected(to client: ClientID) -> Bool {
        self.node.isEstablished(client)
    }

    /// The path a client's connection takes now; nil while none is nominated.
    public func connectionPath(of client: ClientID) -> ConnectionPath? {
        self.node.path(of: client)
    }

    /// The clients with a connection in the node, established or not.
    public var connectedClientIDs: [ClientID] {
        self.node.connectionIDs
    }

    // MARK: Output

    public mutating func pollTransmit() -> NodeTransmit? {
        self.transmits.popFirst()
    }

    public mutating func pollEvent() -> GatewayEvent? {
        self.events.popFirst()
    }

    /// The earliest deadline: snownet's, a NAT session's, the next authorization check; `now` while output waits.
    public func pollTimeout() -> (deadline: Instant, reason: StaticString)? {
        if !self.transmits.isEmpty || !self.events.isEmpty {
            return (self.lastNow, "queued output")
        }
        var earliest: (deadline: Instant, reason: StaticString)? =
            self.isClosing ? nil : (self.nextAuthorizationCheck, "authorization expiry")
        func consider(_ candidate: (deadline: Instant, reason: StaticString)?) {
            if let candidate, candidate.deadline < earliest?.deadline ?? Instant(nanoseconds: .max) {
                earliest = candidate
            }
        }
        consider(self.node.pollTimeout())
        for client in self.clients.values {
            consider(client.pollTimeout())
        }
        return earliest.map { ($0.deadline < self.lastNow ? self.lastNow : $0.deadline, $0.reason) }
    }

    /// Whether ``close(now:)`` is done: every goodbye is out of ``pollTransmit()``.
    public var isClosed: Bool {
        self.isClosing && self.transmits.isEmpty
    }

    // MARK: Portal

    /// One event from the portal's `gateway` topic (Firezone 685acdac3a's names; the mapping
    /// of rust/gateway/src/eventloop.rs).
    public mutating func handlePortalEvent(_ event: GatewayInbound, now: Instant) {
        self.lastNow = now
        defer { self.drainNode() }
        switch event {
        case .initialize(let message):
            self.handleInit(message, now: now)
        case .authorizeFlow(let flow):
            self.handleAuthorizeFlow(flow, now: now)
        case .rejectAccess(let reject):
            self.clients[reject.clientID]?.removeAccess(to: reject.resourceID)
            self.closeIfWithoutResources(reject.clientID, now: now)
        case .accessAuthorizationExpiryUpdated(let update):
            // Live at 685acdac3a: the portal ended one flow while another still authorizes the pair.
            self.clients[update.clientID]?.updateExpiry(of: update.resourceID, to: update.expiresAt)
        case .relaysPresence(let presence):
            self.node.updateRelays(
                removing: presence.disconnectedIDs,
                adding: PortalRelays.turnServers(from: presence.connected.elements),
                now: now
            )
        case .resourceUpdated(let resource):
            for id in self.clients.keys {
                self.clients[id]!.updateFilters(of: resource)
            }
        case .iceCandidates(let candidates):
            do {
                try self.node.addRemoteCandidates(candidates.candidates, for: candidates.clientID, now: now)
            } catch {
                self.logger.debug("Candidates for no connection", metadata: ["client.id": "\(candidates.clientID)"])
            }
        case .invalidateIceCandidates(let candidates):
            for candidate in candidates.candidates {
                do {
                    try self.node.removeRemoteCandidate(candidate, for: candidates.clientID, now: now)
                } catch {
                    self.logger.debug(
                        "Cannot invalidate a candidate",
                        metadata: ["client.id": "\(candidates.clientID)", "error": "\(error)"]
                    )
                }
            }
        }
    }

    private mutating func handleInit(_ message: GatewayInit, now: Instant) {
        if self.interface != message.interface {
            self.interface = message.interface
            for id in self.clients.keys {
                self.clients[id]!.gatewayInterface = message.interface
            }
            self.events.append(.tunInterfaceUpdated(message.interface))
        }
        let servers = PortalRelays.turnServers(from: message.relays.elements)
        // A fresh `init` lists every relay the portal offers now; ones missing from it were lost while the portal
        // was away.
        let removed = self.node.relayIDs.filter { id in !servers.contains { $0.id == id } }
        self.node.updateRelays(removing: removed, adding: servers, now: now)

        // `init` re-syncs the authorizations, keeping only the listed pairs with their expiries.
        var listed: OrderedDictionary<ClientID, [(resource: ResourceID, expiresAt: UInt64)]> = [:]
        for authorization in message.authorizations {
            listed[authorization.clientID, default: []].append((authorization.resourceID, authorization.expiresAt))
        }
        for id in Array(self.clients.keys) {
            self.clients[id]!.retainAuthorizations(listed[id] ?? [])
            self.closeIfWithoutResources(id, now: now)
        }
    }

    private mutating func handleAuthorizeFlow(_ flow: AuthorizeFlow, now: Instant) {
        let clientID = flow.client.id
        do {
            try self.node.upsertConnection(
                clientID,
                remoteKey: flow.client.publicKey,
                presharedKey: flow.client.presharedKey,
                local: IceCredentials(
                    ufrag: flow.gatewayIceCredentials.username,
                    password: flow.gatewayIceCredentials.password
                ),
                remote: IceCredentials(
                    ufrag: flow.clientIceCredentials.username,
                    password: flow.clientIceCredentials.password
                ),
                now: now
            )
        } catch .noRelays {
            // Firezone 685acdac3a's gateway logs the failure and answers nothing; the client's flow times out. The portal
            // only knows of our relays again after a fresh `init`.
            self.logger.info("Cannot authorize a flow without relays", metadata: ["client.id": "\(clientID)"])
            self.events.append(.noRelays)
            return
        } catch {
            self.logger.info(
                "Cannot set up the connection for a flow",
                metadata: ["client.id": "\(clientID)", "error": "\(error)"]
            )
            return
        }
        let existing = self.clients[clientID]
        if let existing, existing.ipv4 != flow.client.ipv4 || existing.ipv6 != flow.client.ipv6 {
            // The client got new tunnel addresses: its state belonged to the old ones.
            self.forgetClient(clientID)
        }
        if self.clients[clientID] == nil {
            self.clients[clientID] = ClientOnGateway(
                id: clientID,
                ipv4: flow.client.ipv4,
                ipv6: flow.client.ipv6,
                gatewayInterface: self.interface,
                logger: self.logger
            )
            self.clientByAddress[.v4(flow.client.ipv4)] = clientID
            self.clientByAddress[.v6(flow.client.ipv6)] = clientID
            self.clientsChanged()
        }
        self.clients[clientID]!.allowAccess(to: flow.resource, expiresAt: flow.expiresAt)
        self.events.append(.portal(.flowAuthorized(FlowAuthorized(ref: flow.ref))))
    }

    // MARK: Network

    /// A datagram from one of the gateway's UDP sockets. Returns the client's packet to write to the TUN device, if
    /// any; everything else the datagram causes is in the outputs.
    ///
    /// The datagram is opened and translated in place: the returned packet lies in `datagram`'s storage, which
    /// `datagram` holds again on every path (a shell hands its receive buffer and writes the packet from there).
    /// Nothing is copied when `datagram` is the only reference to its storage.
    public mutating func handleNetworkInput(
        _ datagram: inout ByteBuffer,
        from source: IPSocketAddress,
        local: IPSocketAddress,
        now: Instant
    ) -> IPPacket? {
        self.lastNow = now
        defer { self.drainNode() }
        let clientID: ClientID?
        do {
            clientID = try self.node.decapsulate(&datagram, from: source, local: local, now: now)
        } catch {
            // Counted in the node's stats.
            return nil
        }
        guard let clientID else {
            return nil
        }
        let parsed: IPPacket
        do {
            parsed = try IPPacket(datagram)
        } catch {
            self.stats.countDrop(.invalidPacket)
            self.logger.trace("Invalid packet from a client", metadata: ["error": "\(error)"])
            return nil
        }
        if parsed.isFZP2PControl {
            self.handleControlPacket(parsed, from: clientID, now: now)
            return nil
        }
        // One lookup, and the client's state mutated where it lies, by position: `clients[id] != nil` would copy the
        // whole `ClientOnGateway` per packet, and the keyed `clients[id]!` access is a coroutine whose frame may be
        // allocated per packet (see snownet's Node.route(at:datagram:now:)).
        guard let position = self.position(of: clientID) else {
            // Connected but without state: its authorizations ended; the connection is being closed.
            self.stats.countDrop(.notAuthorized)
            return nil
        }
        // The packet holds the storage's only reference while the NAT rewrites it; `datagram` gets it back below.
        _ = consume datagram
        var packet = consume parsed
        let verdict = self.clients.values[position].translateOutbound(&packet, now: now)
        datagram = packet.buffer
        switch verdict {
        case .forward:
            return packet
        case .reply(let error, let reason):
            self.stats.countDrop(reason)
            self.send(error, to: clientID, now: now)
            return nil
        case .drop(let reason):
            self.stats.countDrop(reason)
            return nil
        }
    }

    private mutating func handleControlPacket(_ packet: IPPacket, from clientID: ClientID, now: Instant) {
        let message: P2PControlMessage
        do {
            message = try P2PControlMessage(parsing: packet)
        } catch {
            self.stats.countDrop(.invalidControlMessage)
            self.logger.debug("Invalid control message", metadata: ["client.id": "\(clientID)", "error": "\(error)"])
            return
        }
        switch message {
        case .assignedIPs(let resource, let domain, let proxyIPs):
            guard self.clients[clientID] != nil else {
                self.sendControl(
                    .domainStatus(resource: resource, domain: domain, status: .inactive),
                    to: clientID,
                    now: now
                )
                return
            }
            switch self.clients[clientID]!.handleAssignedIPs(resource: resource, domain: domain, proxyIPs: proxyIPs) {
            case .reply(let reply):
                self.sendControl(reply, to: clientID, now: now)
            case .resolve(let resource, let domain):
                self.events.append(
                    .resolveDNS(DNSResolutionRequest(client: clientID, resource: resource, domain: domain))
                )
            case .pending:
                break
            }
        case .goodbye:
            // Firezone 685acdac3a (rust/connlib/tunnel/src/gateway.rs): a client's goodbye ends its authorizations too.
            self.logger.info("Client said goodbye", metadata: ["client.id": "\(clientID)"])
            self.forgetClient(clientID)
            self.node.removeConnection(clientID, now: now)
        case .domainStatus:
            // Only gateways send it.
            self.stats.countDrop(.invalidControlMessage)
        }
    }

    /// The shell's answer to a ``GatewayEvent/resolveDNS(_:)``: the addresses, or nil if resolution failed.
    public mutating func handleDomainResolved(_ request: DNSResolutionRequest, addresses: [IPAddress]?, now: Instant) {
        self.lastNow = now
        defer { self.drainNode() }
        guard self.clients[request.client] != nil,
            let status = self.clients[request.client]!.handleDomainResolved(
                resource: request.resource,
                domain: request.domain,
                addresses: addresses
            )
        else {
            return
        }
        self.sendControl(status, to: request.client, now: now)
    }

    // MARK: TUN

    /// A packet read from the TUN device: a resource's packet for a client. Returns where the datagram now in
    /// `packet`'s readable bytes goes: the packet translated and sealed in place, in `packet`'s storage, which
    /// `packet` holds again on every path (a shell hands its read buffer and sends the datagram from there). Nil
    /// when nothing is to be sent: the packet was dropped (counted in ``stats``) or a handshake is due first.
    ///
    /// Nothing is copied when `packet` is the only reference to its storage and has ``NodeConstants/headroom``
    /// bytes in front and ``NodeConstants/tailroom`` behind; without that room it is copied into a buffer that has.
    public mutating func handleTUNInput(_ packet: inout ByteBuffer, now: Instant) -> NodeDestination? {
        self.lastNow = now
        defer { self.drainNode() }
        let parsed: IPPacket
        do {
            parsed = try IPPacket(packet)
        } catch {
            self.stats.countDrop(.invalidPacket)
            return nil
        }
        guard let position = self.position(ofClientAt: parsed.destination) else {
            self.stats.countDrop(.unknownClient)
            return nil
        }
        let clientID = self.clients.keys[position]
        // The translated packet holds the storage's only reference (`consume` ends the other bindings' references at
        // once, where a binding's lifetime would keep them until the end of the scope); `packet` gets it back on
        // every path below.
        _ = consume packet
        var translated = consume parsed
        switch self.clients.values[position].translateInbound(&translated, now: now) {
        case .forward:
            packet = (consume translated).intoBuffer().withEncapsulationRoom()
            return self.seal(&packet, for: clientID, now: now)
        case .drop(let reason):
            packet = (consume translated).intoBuffer()
            self.stats.countDrop(reason)
            return nil
        }
    }

    /// ``handleTUNInput(_:now:)`` for a caller that hands over its packet: the datagram is queued for
    /// ``pollTransmit()``.
    public mutating func handleTUNInput(_ packet: consuming IPPacket, now: Instant) {
        var buffer = packet.intoBuffer()
        if let destination = self.handleTUNInput(&buffer, now: now) {
            self.transmits.append(
                NodeTransmit(source: destination.source, destination: destination.destination, payload: buffer)
            )
        }
    }

    // MARK: Timers

    /// `unixTime` (wall-clock time since 1970) judges authorization expiries, which the portal gives in Unix seconds.
    public mutating func handleTimeout(now: Instant, unixTime: Duration) {
        self.lastNow = now
        defer { self.drainNode() }
        self.node.handleTimeout(now: now, unixTime: unixTime)
        for id in self.clients.keys {
            self.clients[id]!.handleTimeout(now: now)
        }
        guard !self.isClosing, now >= self.nextAuthorizationCheck else {
            return
        }
        self.nextAuthorizationCheck = now + GatewayConstants.authorizationCheckInterval
        for id in Array(self.clients.keys) {
            self.clients[id]!.removeExpired(unixTime: unixTime)
            self.closeIfWithoutResources(id, now: now)
        }
    }

    // MARK: Closing

    /// Says goodbye to every client and closes every connection: on shutdown and when the event loop fails
    /// (Firezone #10401). Drain ``pollTransmit()`` afterwards until ``isClosed``.
    public mutating func close(now: Instant) {
        self.lastNow = now
        defer { self.drainNode() }
        self.isClosing = true
        self.node.closeAll(goodbye: Self.goodbye, now: now)
    }

    // MARK: Helpers

    /// When a client has no resource left the gateway says goodbye and closes the connection.
    private mutating func closeIfWithoutResources(_ id: ClientID, now: Instant) {
        guard let client = self.clients[id], !client.hasResources else {
            return
        }
        self.logger.info("Client has no resources left; closing its connection", metadata: ["client.id": "\(id)"])
        self.forgetClient(id)
        self.node.closeConnection(id, goodbye: Self.goodbye, now: now)
    }

    private mutating func forgetClient(_ id: ClientID) {
        guard let client = self.clients.removeValue(forKey: id) else {
            return
        }
        self.clientByAddress[.v4(client.ipv4)] = nil
        self.clientByAddress[.v6(client.ipv6)] = nil
        self.clientsChanged()
    }

    /// Clients were added or removed: positions in `clients` and owners of addresses may have changed.
    private mutating func clientsChanged() {
        self.lastNetworkClient = nil
        self.lastTUNClient = nil
    }

    /// The position in `clients` of `id`, from the last datagram's client when it is the same.
    private mutating func position(of id: ClientID) -> Int? {
        if let last = self.lastNetworkClient, last < self.clients.count, self.clients.keys[last] == id {
            return last
        }
        self.lastNetworkClient = self.clients.index(forKey: id)
        return self.lastNetworkClient
    }

    /// The position in `clients` of the client whose tunnel address is `address`, from the last TUN packet's when
    /// it is the same.
    private mutating func position(ofClientAt address: IPAddress) -> Int? {
        if let last = self.lastTUNClient, last < self.clients.count, self.clients.values[last].owns(address) {
            return last
        }
        self.lastTUNClient = self.clientByAddress[address].flatMap { self.clients.index(forKey: $0) }
        return self.lastTUNClient
    }

    private static let goodbye: ByteBuffer = {
        do {
            return try P2PControlMessage.goodbye.makePacket().buffer
        } catch {
            preconditionFailure("an empty control message fits in a packet: \(error)")
        }
    }()

    private mutating func sendControl(_ message: P2PControlMessage, to client: ClientID, now: Instant) {
        do {
            self.send(try message.makePacket(), to: client, now: now)
        } catch {
            self.logger.debug("Control message too long", metadata: ["error": "\(error)"])
        }
    }

    /// Encrypts a packet for a client and queues the datagram.
    private mutating func send(_ packet: consuming IPPacket, to client: ClientID, now: Instant) {
        var buffer = packet.intoBuffer().withEncapsulationRoom()
        if let destination = self.seal(&buffer, for: client, now: now) {
            self.transmits.append(
                NodeTransmit(source: destination.source, destination: destination.destination, payload: buffer)
            )
        }
    }

    /// Seals `buffer` in place for a client; nil when the connection cannot carry it now (counted): a gateway never
    /// buffers.
    private mutating func seal(_ buffer: inout ByteBuffer, for client: ClientID, now: Instant) -> NodeDestination? {
        let destination: NodeDestination?
        do {
            destination = try self.node.encapsulate(&buffer, for: client, now: now)
        } catch {
            self.stats.countDrop(.notConnected)
            return nil
        }
        guard let destination else {
            self.stats.countDrop(.notConnected)
            return nil
        }
        return destination
    }

    /// Moves the node's output into ours, in order, and turns its events into the portal's messages.
    private mutating func drainNode() {
        while let transmit = self.node.pollTransmit() {
            self.transmits.append(transmit)
        }
        while let event = self.node.pollEvent() {
            switch event {
            case .newIceCandidates(let client, let candidates):
                self.events.append(
                    .portal(.broadcastIceCandidates(ClientsIceCandidates(clientIDs: [client], candidates: candidates)))
                )
            case .invalidatedIceCandidates(let client, let candidates):
                self.events.append(
                    .portal(
                        .broadcastInvalidatedIceCandidates(
                            ClientsIceCandidates(clientIDs: [client], candidates: candidates)
                        )
                    )
                )
            case .connectionEstablished(let client, let path):
                self.logger.info("Connection established", metadata: ["client.id": "\(client)", "path": "\(path)"])
            case .connectionPathChanged(let client, let path):
                self.logger.debug("Connection path changed", metadata: ["client.id": "\(client)", "path": "\(path)"])
            case .connectionFailed(let client, let failure):
                // Firezone #10040: the client's authorizations stay; it may connect again with a new flow.
                self.logger.info(
                    "Connection failed",
                    metadata: ["client.id": "\(client)", "reason": "\(failure)"]
                )
            case .connectionClosed(let client):
                self.logger.info("Connection closed", metadata: ["client.id": "\(client)"])
            case .noRelays:
                self.events.append(.noRelays)
            }
        }
    }
}
