import FirezoneCrypto
import Glibc
import IPPacket
import Logging
import NIOCore
import PortalMessages

/// A socket as the portal sees it: where to send frames and how to end it.
protocol PortalSocket: AnyObject {
    func send(_ text: String)
    func close()
}

/// The local portal's state and behaviour: authentication, presence, relay credentials, `init`, flow brokering,
/// candidate forwarding, presence pushes, and the admin operations.
///
/// `@unchecked Sendable`: everything is read and written on `loop`, the one event loop that serves every socket
/// and the admin API; entry points from elsewhere hop onto it.
public final class Portal: @unchecked Sendable {
    public struct Options: Sendable {
        /// Relay leave events are held this long, in case the relay comes back (Firezone 685acdac3a's portal: 3 s,
        /// `relays_presence_debounce_timeout_ms`).
        public var relayLeaveDebounce: Duration = .seconds(3)
        /// Sockets silent for longer are closed (as Firezone 685acdac3a's elixir/apps/api/lib/api/endpoint.ex: client
        /// 307 s, gateway 37 s, relay 41 s).
        public var clientSocketTimeout: Duration = .seconds(307)
        public var gatewaySocketTimeout: Duration = .seconds(37)
        public var relaySocketTimeout: Duration = .seconds(41)
        /// Seeds the random choice among a site's gateways; nil draws a seed from the system.
        public var gatewaySelectionSeed: UInt64?

        public init() {}
    }

    /// Gateways' relay credentials live this long (as Firezone 685acdac3a's
    /// elixir/apps/api/lib/api/gateway/channel.ex); clients' live as long as their token.
    static let gatewayCredentialLifetime: UInt64 = 90 * 86_400
    /// A client token without an expiry in the file expires this long after the portal started.
    static let defaultClientTokenLifetime: UInt64 = 7 * 86_400

    let loop: any EventLoop
    let options: Options
    private var logger: Logger
    private var configuration: PortalConfiguration
    private let startedAt: UInt64

    private var resources: [PortalConfiguration.ResourceEntry]
    private var revoked: Set<AccessPair> = []
    private var expiredTokens: Set<String> = []
    private var addresses: [String: (IPv4Address, IPv6Address)] = [:]
    /// Each client's and gateway's secret share of their pairs' preshared keys; random per portal run.
    private var pskBases: [String: [UInt8]] = [:]

    private var nextSocket: UInt64 = 0
    private var sessions: [UInt64: Session] = [:]
    private var clientSockets: [ClientID: UInt64] = [:]
    private var gatewaySockets: [GatewayID: UInt64] = [:]
    private var relaySockets: [RelayID: UInt64] = [:]
    /// Relays that joined and have not (after the debounce) left.
    private var relays: [RelayID: RelayPresence] = [:]
    private var relayLeaves: [RelayID: Scheduled<Void>] = [:]

    /// Every gateway the portal knows: the file's, then those that signed in with a site token, in the order they
    /// first joined.
    private var gatewayDirectory: [GatewayRecord]
    /// Draws the gateway of a flow among the candidates, as Firezone 685acdac3a's `Gateways.load_balance_gateways`
    /// takes a random one.
    private var gatewaySelection: KeyStream

    /// Flows sent to a gateway as `authorize_flow` and not yet authorized, oldest first.
    private var pendingFlows: [PendingFlow] = []
    private var flows: [Flow] = []
    private var nextFlow: UInt64 = 0
    private var flowExpiries: [UInt64: Scheduled<Void>] = [:]

    struct Session {
        var socket: any PortalSocket
        var identity: PortalIdentity
        var token: String
        var remoteIP: IPAddress?
        var joined = false
        /// Ends a client's session when its token expires.
        var expiry: Scheduled<Void>?
    }

    struct RelayPresence: Equatable {
        var ipv4: IPv4Address?
        var ipv6: IPv6Address?
        var port: UInt16
        /// The relay's stamp secret. Never logged.
        var secret: String
    }

    struct Flow: Equatable {
        var id: UInt64
        var client: ClientID
        var resource: ResourceID
        var gateway: GatewayID
        var expiresAt: UInt64
    }

    struct PendingFlow {
        var ref: String
        var flow: Flow
        /// The gateway socket the `authorize_flow` went out on: only that socket can answer it.
        var socket: UInt64
    }

    struct GatewayRecord: Equatable {
        var id: GatewayID
        var siteID: SiteID
        var name: String
        /// Set for a gateway that signed in with its site's token.
        var externalID: String?
    }

    struct AccessPair: Hashable {
        var client: ClientID
        var resource: ResourceID
    }

    public init(configuration: PortalConfiguration, options: Options, loop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.options = options
        self.loop = loop
        self.logger = logger
        self.startedAt = UInt64(time(nil))
        self.resources = configuration.resources
        var generator = SystemRandomNumberGenerator()
        self.gatewayDirectory = configuration.gateways.map {
            GatewayRecord(id: $0.id, siteID: $0.siteID, name: $0.name, externalID: nil)
        }
        self.gatewaySelection = KeyStream(seed: options.gatewaySelectionSeed ?? generator.next())
        var offset: UInt64 = 1
        for component in configuration.clients.map({ ($0.id.rawValue, $0.ipv4, $0.ipv6) })
            + configuration.gateways.map({ ($0.id.rawValue, $0.ipv4, $0.ipv6) })
        {
            guard case .v4(let v4)? = configuration.tunnel.ipv4.address(at: offset),
                case .v6(let v6)? = configuration.tunnel.ipv6.address(at: offset)
            else {
                preconditionFailure("validated: the tunnel ranges hold every component")
            }
            self.addresses[component.0] = (component.1 ?? v4, component.2 ?? v6)
            self.pskBases[component.0] = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            offset += 1
        }
    }

    // MARK: Authentication

    /// The identity a WebSocket request authenticates as, or why it is refused. Accepts the token as the `token`
    /// query parameter (as Firezone 685acdac3a's connlib sends it) and, as an extra, an `X-Authorization: Bearer`
    /// header. A gateway new to the portal that signs in with its site's token is registered only when `upgrading`,
    /// so a request that is not upgraded leaves no trace.
    func authenticate(
        uri: String,
        authorization: String?,
        upgrading: Bool = false
    ) -> Result<(PortalIdentity, String), PortalRefusal> {
        self.loop.preconditionInEventLoop()
        let target = RequestTarget(uri)
        let kind = target.path.split(separator: "/").suffix(2)
        guard kind.count == 2, kind.last == "websocket", ["client", "gateway", "relay"].contains(kind.first!) else {
            return .failure(.notFound)
        }
        let bearer = authorization.flatMap { header -> String? in
            let trimmed = header.trimmingWhitespace
            return trimmed.hasPrefix("Bearer ") ? String(trimmed.dropFirst(7)).trimmingWhitespace : nil
        }
        guard let token = target["token"] ?? bearer, !token.isEmpty else {
            return .failure(.missingToken)
        }
        guard !self.expiredTokens.contains(token) else {
            return .failure(.invalidToken)
        }
        switch kind.first! {
        case "client":
            guard let client = self.configuration.clients.first(where: { $0.token == token }),
                (client.tokenExpiresAt ?? .max) > UInt64(time(nil))
            else {
                return .failure(.invalidToken)
            }
            guard let key = target["public_key"].flatMap(PublicKey.init(base64:)) else {
                return .failure(PortalRefusal(status: 422, reason: "public_key: is invalid"))
            }
            return .success((.client(client.id, publicKey: key), token))
        case "gateway":
            let gatewayID: GatewayID
            if let gateway = self.configuration.gateways.first(where: { $0.token == token }) {
                gatewayID = gateway.id
            } else if let site = self.configuration.sites.first(where: { $0.token == token }) {
                guard let externalID = target["external_id"], !externalID.isEmpty else {
                    return .failure(PortalRefusal(status: 422, reason: "external_id: can't be blank"))
                }
                guard target["public_key"].flatMap(PublicKey.init(base64:)) != nil else {
                    return .failure(PortalRefusal(status: 422, reason: "public_key: is invalid"))
                }
                switch self.registerGateway(
                    site: site.id,
                    externalID: externalID,
                    name: target["name"],
                    commit: upgrading
                ) {
                case .success(let id): gatewayID = id
                case .failure(let refusal): return .failure(refusal)
                }
            } else {
                return .failure(.invalidToken)
            }
            guard let key = target["public_key"].flatMap(PublicKey.init(base64:)) else {
                return .failure(PortalRefusal(status: 422, reason: "public_key: is invalid"))
            }
            return .success((.gateway(gatewayID, publicKey: key), token))
        default:
            guard let relay = self.configuration.relays.first(where: { $0.token == token }) else {
                return .failure(.invalidToken)
            }
            let ipv4 = target["ipv4"].flatMap(IPv4Address.init)
            let ipv6 = target["ipv6"].flatMap(IPv6Address.init)
            guard let port = target["port"].flatMap(UInt16.init), port != 0 else {
                return .failure(PortalRefusal(status: 422, reason: "port: is invalid"))
            }
            guard ipv4 != nil || ipv6 != nil, target["ipv4"] == nil || ipv4 != nil, target["ipv6"] == nil || ipv6 != nil
            else {
                return .failure(PortalRefusal(status: 422, reason: "ipv4, ipv6: a valid public address is required"))
            }
            return .success((.relay(relay.id, ipv4: ipv4, ipv6: ipv6, port: port), token))
        }
    }

    /// A gateway of a site token: known again by its `external_id`, or given an id, tunnel addresses and a PSK base
    /// (with `commit`; without, only whether it could be).
    private func registerGateway(
        site: SiteID,
        externalID: String,
        name: String?,
        commit: Bool
    ) -> Result<GatewayID, PortalRefusal> {
        let id = Self.gatewayID(site: site, externalID: externalID)
        if let index = self.gatewayDirectory.firstIndex(where: { $0.id == id }) {
            if commit {
                self.gatewayDirectory[index].name = name ?? self.gatewayDirectory[index].name
            }
            return .success(id)
        }
        let offset = UInt64(self.addresses.count + 1)
        guard offset + 1 < min(self.configuration.tunnel.ipv4.size, self.configuration.tunnel.ipv6.size),
            case .v4(let v4)? = self.configuration.tunnel.ipv4.address(at: offset),
            case .v6(let v6)? = self.configuration.tunnel.ipv6.address(at: offset)
        else {
            return .failure(PortalRefusal(status: 503, reason: "No tunnel address left"))
        }
        guard commit else {
            return .success(id)
        }
        var generator = SystemRandomNumberGenerator()
        self.addresses[id.rawValue] = (v4, v6)
        self.pskBases[id.rawValue] = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        self.gatewayDirectory.append(
            GatewayRecord(id: id, siteID: site, name: name ?? externalID, externalID: externalID)
        )
        self.logger.info("Gateway registered", metadata: ["gateway.id": "\(id)", "site.id": "\(site)"])
        return .success(id)
    }

    /// The id of a site token's gateway: a UUID named by SHA-256 of `site_id:external_id` (version 8, as in
    /// RFC 9562 Appendix B.2), so the same gateway keeps its id across restarts of itself and of the portal.
    public static func gatewayID(site: SiteID, externalID: String) -> GatewayID {
        var bytes = Array(SHA256.hash(Array("\(site):\(externalID)".utf8)).prefix(16))
        bytes[6] = bytes[6] & 0x0f | 0x80
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = Array(Hex.encode(bytes))
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }
        return GatewayID(groups.joined(separator: "-"))
    }

    // MARK: Sockets

    /// A socket that passed `authenticate` and was upgraded. Returns the id the socket reports with.
    func open(_ socket: any PortalSocket, identity: PortalIdentity, token: String, remoteIP: IPAddress?) -> UInt64 {
        self.loop.preconditionInEventLoop()
        let id = self.nextSocket
        self.nextSocket += 1
        self.sessions[id] = Session(socket: socket, identity: identity, token: token, remoteIP: remoteIP)
        self.logger.debug("Socket open", metadata: ["socket": "\(id)", "component": "\(identity.componentID)"])
        return id
    }

    func closed(_ id: UInt64) {
        self.loop.preconditionInEventLoop()
        guard let session = self.sessions.removeValue(forKey: id) else {
            return
        }
        session.expiry?.cancel()
        self.logger.info(
            "Socket closed",
            metadata: ["socket": "\(id)", "component": "\(session.identity.componentID)"]
        )
        switch session.identity {
        case .client(let client, _):
            if self.clientSockets[client] == id {
                self.clientSockets[client] = nil
            }
        case .gateway(let gateway, _):
            if self.gatewaySockets[gateway] == id {
                self.gatewaySockets[gateway] = nil
            }
            // Nobody will answer what went out on this socket: the clients waiting for it hear `offline` and may
            // ask again, which picks a gateway that is online.
            let orphaned = self.pendingFlows.filter { $0.socket == id }
            self.pendingFlows.removeAll { $0.socket == id }
            for pending in orphaned {
                self.logger.info(
                    "Flow failed: the gateway left before authorizing it",
                    metadata: ["client.id": "\(pending.flow.client)", "gateway.id": "\(gateway)"]
                )
                self.pushToClient(
                    pending.flow.client,
                    .flowCreationFailed(
                        FlowCreationFailed(resourceID: pending.flow.resource, reason: .offline, violatedProperties: nil)
                    )
                )
            }
        case .relay(let relay, _, _, _):
            guard self.relaySockets[relay] == id else {
                return
            }
            self.relaySockets[relay] = nil
            self.relayLeaves[relay] = self.loop.scheduleTask(
                in: .nanoseconds(self.options.relayLeaveDebounce.nanoseconds)
            ) {
                self.relayLeft(relay)
            }
        }
    }

    func received(_ text: String, on id: UInt64) {
        self.loop.preconditionInEventLoop()
        guard let session = self.sessions[id] else {
            return
        }
        switch session.identity {
        case .client(let client, _):
            self.dispatch(text, on: id, session: session, as: ClientTopic.self) { event, _ in
                self.handle(event, from: client)
            }
        case .gateway(let gateway, _):
            self.dispatch(text, on: id, session: session, as: GatewayTopic.self) { event, ref in
                self.handle(event, from: gateway, socket: id, ref: ref)
            }
        case .relay:
            // Relays send no events of their own (`RelayOutbound` has none).
            self.dispatch(text, on: id, session: session, as: RelayTopic.self) { _, _ in }
        }
    }

    /// Phoenix's side of the protocol: joins, heartbeats, replies; events of the topic go to `handle`.
    private func dispatch<Topic: PortalTopic>(
        _ text: String,
        on id: UInt64,
        session: Session,
        as topic: Topic.Type,
        handle: (Topic.Outbound, PhoenixRef?) -> Void
    ) {
        let message: PhoenixMessage<Topic.Outbound, Topic.JoinPayload>
        do {
            message = try PortalCodec.decode(text)
        } catch {
            self.logger.info("Unreadable message", metadata: ["socket": "\(id)", "error": "\(error)"])
            if error.kind == .malformedPayload, let topic = error.topic {
                let reason =
                    if error.event == PhoenixControl.join {
                        "invalid_join_payload"
                    } else if topic == Topic.name && session.joined {
                        "malformed_payload"
                    } else {
                        "unmatched topic"
                    }
                self.reply(.error(reason: reason), topic: topic, ref: error.ref, on: session.socket)
            }
            return
        }
        switch message.body {
        case .heartbeat where message.topic == PhoenixControl.heartbeatTopic:
            self.reply(.ok, topic: PhoenixControl.heartbeatTopic, ref: message.ref, on: session.socket)
        case .join(let payload) where message.topic == Topic.name:
            self.joined(id, payload: payload, ref: message.ref)
        case _ where message.topic != Topic.name || !session.joined:
            self.reply(.error(reason: "unmatched topic"), topic: message.topic, ref: message.ref, on: session.socket)
        case .event(let event):
            handle(event, message.ref)
        case .leave:
            self.reply(.ok, topic: Topic.name, ref: message.ref, on: session.socket)
            session.socket.close()
        default:
            self.reply(.error(reason: "unknown_message"), topic: Topic.name, ref: message.ref, on: session.socket)
        }
    }

    private func joined<Join>(_ id: UInt64, payload: Join, ref: PhoenixRef?) {
        guard var session = self.sessions[id] else {
            return
        }
        if case .relay = session.identity, (payload as? RelayJoin)?.stampSecret.isEmpty ?? true {
            self.reply(
                .error(reason: "stamp_secret: is required"),
                topic: RelayTopic.name,
                ref: ref,
                on: session.socket
            )
            return
        }
        self.reply(.ok, topic: session.identity.topic, ref: ref, on: session.socket)
        session.joined = true
        self.sessions[id] = session
        var metadata: Logger.Metadata = ["socket": "\(id)", "component": "\(session.identity.componentID)"]
        switch session.identity {
        case .client(_, let key), .gateway(_, let key):
            // A client's reset makes a new key, which it signs in with again; tests compare them.
            metadata["public.key"] = "\(key.base64)"
        case .relay:
            break
        }
        self.logger.info("Joined", metadata: metadata)
        switch session.identity {
        case .client(let client, let key):
            if let previous = self.clientSockets[client], previous != id {
                self.sessions[previous]?.socket.close()
            }
            self.clientSockets[client] = id
            self.push(
                ClientInbound.initialize(self.clientInit(client, key: key)),
                topic: ClientTopic.self,
                to: session.socket
            )
            // The session lasts as long as the token, as Firezone 685acdac3a's portal socket does.
            // At most a century ahead: a far-future expiry in the file must not overflow the timer.
            let remaining = min(Int64(clamping: self.clientTokenExpiry(client)) - Int64(time(nil)), 100 * 365 * 86_400)
            self.sessions[id]?.expiry?.cancel()
            self.sessions[id]?.expiry = self.loop.scheduleTask(in: .seconds(max(0, remaining))) {
                self.disconnect(socket: id, reason: "token_expired")
            }
        case .gateway(let gateway, let key):
            if let previous = self.gatewaySockets[gateway], previous != id {
                self.sessions[previous]?.socket.close()
            }
            self.gatewaySockets[gateway] = id
            self.push(
                GatewayInbound.initialize(self.gatewayInit(gateway, key: key)),
                topic: GatewayTopic.self,
                to: session.socket
            )
        case .relay(let relay, let ipv4, let ipv6, let port):
            let join = payload as! RelayJoin
            if let previous = self.relaySockets[relay], previous != id {
                self.sessions[previous]?.socket.close()
            }
            self.relaySockets[relay] = id
            self.push(RelayInbound.initialize, topic: RelayTopic.self, to: session.socket)
            self.relayJoined(relay, RelayPresence(ipv4: ipv4, ipv6: ipv6, port: port, secret: join.stampSecret))
        }
    }

    // MARK: Relays

    private func relayJoined(_ relay: RelayID, _ presence: RelayPresence) {
        self.relayLeaves.removeValue(forKey: relay)?.cancel()
        let previous = self.relays[relay]
        if previous == presence {
            return
        }
        self.relays[relay] = presence
        // A relay back with another secret has lost its allocations: report it gone at once, then new.
        let disconnected = previous == nil ? [] : [relay]
        self.broadcastRelays(disconnected: disconnected, connected: [relay])
    }

    private func relayLeft(_ relay: RelayID) {
        self.relayLeaves[relay] = nil
        guard self.relaySockets[relay] == nil, self.relays.removeValue(forKey: relay) != nil else {
            return
        }
        self.logger.info("Relay gone", metadata: ["relay.id": "\(relay)"])
        self.broadcastRelays(disconnected: [relay], connected: [])
    }

    private func broadcastRelays(disconnected: [RelayID], connected: [RelayID]) {
        for (client, socket) in self.clientSockets.sorted(by: { $0.key < $1.key }) {
            guard case .client(_, let key)? = self.sessions[socket]?.identity else { continue }
            let given = self.relayIDs(of: client)
            let gone = disconnected.filter { given?.contains($0) ?? true }
            let entries = connected.filter { given?.contains($0) ?? true }.flatMap {
                self.relayEntries($0, key: key, expiresAt: self.clientTokenExpiry(client))
            }
            // A relay outside the client's set is none of its business.
            guard !gone.isEmpty || !entries.isEmpty else { continue }
            self.push(
                ClientInbound.relaysPresence(RelaysPresence(disconnectedIDs: gone, connected: entries)),
                topic: ClientTopic.self,
                to: self.sessions[socket]!.socket
            )
        }
        for (gateway, socket) in self.gatewaySockets.sorted(by: { $0.key < $1.key }) {
            guard case .gateway(_, let key)? = self.sessions[socket]?.identity else { continue }
            let expiry = UInt64(time(nil)) + Self.gatewayCredentialLifetime
            let given = self.relayIDs(of: gateway)
            let gone = disconnected.filter { given?.contains($0) ?? true }
            let entries = connected.filter { given?.contains($0) ?? true }.flatMap {
                self.relayEntries($0, key: key, expiresAt: expiry)
            }
            guard !gone.isEmpty || !entries.isEmpty else { continue }
            self.push(
                GatewayInbound.relaysPresence(RelaysPresence(disconnectedIDs: gone, connected: entries)),
                topic: GatewayTopic.self,
                to: self.sessions[socket]!.socket
            )
        }
    }

    /// One TURN entry per address family of the relay, with credentials minted for the component's key.
    private func relayEntries(_ relay: RelayID, key: PublicKey, expiresAt: UInt64) -> [RelayEntry] {
        guard let presence = self.relays[relay] else {
            return []
        }
        let (username, password) = PortalCrypto.relayCredentials(
            secret: presence.secret,
            componentKey: key,
            expiresAt: expiresAt
        )
        let addresses = [presence.ipv4.map(IPAddress.v4), presence.ipv6.map(IPAddress.v6)].compactMap { $0 }
        return addresses.map { address in
            .turn(
                TurnRelay(
                    id: relay,
                    address: IPSocketAddress(address, port: presence.port),
                    username: username,
                    password: password,
                    expiresAt: expiresAt
                )
            )
        }
    }

    /// The relays a client is given (its `relay_ids`); nil: every relay.
    private func relayIDs(of client: ClientID) -> [RelayID]? {
        self.configuration.clients.first { $0.id == client }?.relayIDs
    }

    /// The relays a gateway is given: its own `relay_ids`, else its site's; nil: every relay.
    private func relayIDs(of gateway: GatewayID) -> [RelayID]? {
        if let own = self.configuration.gateways.first(where: { $0.id == gateway })?.relayIDs {
            return own
        }
        guard let site = self.gatewayDirectory.first(where: { $0.id == gateway })?.siteID else {
            return nil
        }
        return self.configuration.sites.first { $0.id == site }?.relayIDs
    }

    /// The joined relays, then the file's TURN servers with their fixed credentials; of those only the `given` ones
    /// when the component has a relay set of its own.
    private func allRelayEntries(key: PublicKey, expiresAt: UInt64, given: [RelayID]?) -> [RelayEntry] {
        let joined = self.relays.keys.sorted().filter { given?.contains($0) ?? true }
        let servers = self.configuration.turnServers.filter { given?.contains($0.id) ?? true }
        return joined.flatMap { self.relayEntries($0, key: key, expiresAt: expiresAt) }
            + servers.flatMap { server in
                server.addresses.map { address in
                    .turn(
                        TurnRelay(
                            id: server.id,
                            address: address,
                            username: server.username,
                            password: server.password,
                            expiresAt: expiresAt
                        )
                    )
                }
            }
    }

    // MARK: init

    private func clientInterface(_ client: ClientID) -> ClientInterface {
        let (ipv4, ipv6) = self.addresses[client.rawValue]!
        return ClientInterface(
            ipv4: ipv4,
            ipv6: ipv6,
            upstreamDNS: self.configuration.upstreamDNS.map(UpstreamDNS.ipPort),
            searchDomain: self.configuration.searchDomain
        )
    }

    private func clientInit(_ client: ClientID, key: PublicKey) -> ClientInit {
        ClientInit(
            interface: self.clientInterface(client),
            resources: self.visibleResources(client).map { $0.clientResource(sites: self.sites(of: $0)) },
            relays: self.allRelayEntries(
                key: key,
                expiresAt: self.clientTokenExpiry(client),
                given: self.relayIDs(of: client)
            )
        )
    }

    private func gatewayInit(_ gateway: GatewayID, key: PublicKey) -> GatewayInit {
        let (ipv4, ipv6) = self.addresses[gateway.rawValue]!
        let now = UInt64(time(nil))
        // The longest expiry per pair, as Firezone 685acdac3a's portal reports from its flow cache.
        var longest: [AccessPair: UInt64] = [:]
        for flow in self.flows where flow.gateway == gateway && flow.expiresAt > now {
            let pair = AccessPair(client: flow.client, resource: flow.resource)
            longest[pair] = max(longest[pair] ?? 0, flow.expiresAt)
        }
        let authorizations =
            longest
            .map { Authorization(clientID: $0.key.client, resourceID: $0.key.resource, expiresAt: $0.value) }
            .sorted { ($0.clientID, $0.resourceID) < ($1.clientID, $1.resourceID) }
        return GatewayInit(
            interface: GatewayInterface(ipv4: ipv4, ipv6: ipv6),
            config: GatewayConfig(ipv4MasqueradeEnabled: true, ipv6MasqueradeEnabled: true),
            relays: self.allRelayEntries(
                key: key,
                expiresAt: now + Self.gatewayCredentialLifetime,
                given: self.relayIDs(of: gateway)
            ),
            accountSlug: self.configuration.accountSlug,
            authorizations: authorizations
        )
    }

    // MARK: Flows

    private func handle(_ event: ClientOutbound, from client: ClientID) {
        switch event {
        case .createFlow(let request):
            self.createFlow(request, for: client)
        case .broadcastIceCandidates(let payload):
            for gateway in payload.gatewayIDs where self.hasFlow(client: client, gateway: gateway) {
                self.pushToGateway(
                    gateway,
                    .iceCandidates(ClientIceCandidates(clientID: client, candidates: payload.candidates))
                )
            }
        case .broadcastInvalidatedIceCandidates(let payload):
            for gateway in payload.gatewayIDs where self.hasFlow(client: client, gateway: gateway) {
                self.pushToGateway(
                    gateway,
                    .invalidateIceCandidates(ClientIceCandidates(clientID: client, candidates: payload.candidates))
                )
            }
        }
    }

    private func handle(_ event: GatewayOutbound, from gateway: GatewayID, socket: UInt64, ref: PhoenixRef?) {
        switch event {
        case .flowAuthorized(let payload):
            guard let index = self.pendingFlows.firstIndex(where: { $0.ref == payload.ref && $0.socket == socket })
            else {
                self.reply(
                    .error(reason: "not_found"),
                    topic: GatewayTopic.name,
                    ref: ref,
                    on: self.sessions[socket]!.socket
                )
                return
            }
            let flow = self.pendingFlows.remove(at: index).flow
            self.reply(.ok, topic: GatewayTopic.name, ref: ref, on: self.sessions[socket]!.socket)
            self.flowAuthorized(flow)
        case .broadcastIceCandidates(let payload):
            for client in payload.clientIDs where self.hasFlow(client: client, gateway: gateway) {
                self.pushToClient(
                    client,
                    .iceCandidates(GatewayIceCandidates(gatewayID: gateway, candidates: payload.candidates))
                )
            }
        case .broadcastInvalidatedIceCandidates(let payload):
            for client in payload.clientIDs where self.hasFlow(client: client, gateway: gateway) {
                self.pushToClient(
                    client,
                    .invalidateIceCandidates(GatewayIceCandidates(gatewayID: gateway, candidates: payload.candidates))
                )
            }
        }
    }

    private func createFlow(_ request: CreateFlow, for client: ClientID) {
        func fail(_ reason: FlowFailureReason, _ violated: [String]? = nil) {
            self.logger.info(
                "Flow refused",
                metadata: ["client.id": "\(client)", "resource.id": "\(request.resourceID)", "reason": "\(reason)"]
            )
            self.pushToClient(
                client,
                .flowCreationFailed(
                    FlowCreationFailed(resourceID: request.resourceID, reason: reason, violatedProperties: violated)
                )
            )
        }
        guard let resource = self.visibleResources(client).first(where: { $0.id == request.resourceID }) else {
            return fail(.notFound)
        }
        let policies = self.policies(client: client, resource: resource.id)
        let remoteIP = self.clientSockets[client].flatMap { self.sessions[$0]?.remoteIP }
        let permitting = policies.filter { policy in
            guard let networks = policy.remoteIP else { return true }
            return remoteIP.map { ip in networks.contains { $0.contains(ip) } } ?? false
        }
        guard !permitting.isEmpty else {
            return fail(.forbidden, ["remote_ip"])
        }
        let online = self.gatewayDirectory.filter {
            resource.siteIDs.contains($0.siteID) && self.gatewaySockets[$0.id] != nil
        }
        guard !online.isEmpty else {
            return fail(.offline)
        }
        // As Firezone 685acdac3a's `Gateways.load_balance_gateways`: among the gateways the client is already
        // connected to if any is online, otherwise among all of the resource's online gateways, a random one (it
        // first narrows to the nearest location and the newest version, which the local portal does not know).
        let connected = Set(request.connectedGatewayIDs)
        let preferred = online.filter { connected.contains($0.id) }
        let gateway = (preferred.isEmpty ? online : preferred).randomElement(using: &self.gatewaySelection)!

        guard case .client(_, let clientKey)? = self.clientSockets[client].flatMap({ self.sessions[$0]?.identity }),
            case .gateway(_, let gatewayKey)? = self.gatewaySockets[gateway.id].flatMap({ self.sessions[$0]?.identity })
        else {
            return fail(.offline)
        }
        let (ipv4, ipv6) = self.addresses[client.rawValue]!
        let (clientCredentials, gatewayCredentials) = PortalCrypto.iceCredentials(
            client: client,
            clientKey: clientKey,
            gateway: gateway.id,
            gatewayKey: gatewayKey
        )
        // The longest lifetime any permitting policy grants, never beyond the token: the flow ends then.
        let lifetimes = permitting.map { $0.flowLifetime ?? self.configuration.flowLifetime }
        let tokenExpiry = self.clientTokenExpiry(client)
        let expiresAt =
            lifetimes.contains(nil)
            ? tokenExpiry : min(tokenExpiry, UInt64(time(nil)) + lifetimes.compactMap { $0 }.max()!)
        let ref = Self.randomReference()
        let flow = Flow(
            id: self.nextFlow,
            client: client,
            resource: resource.id,
            gateway: gateway.id,
            expiresAt: expiresAt
        )
        self.nextFlow += 1
        self.pendingFlows.append(PendingFlow(ref: ref, flow: flow, socket: self.gatewaySockets[gateway.id]!))
        self.logger.info(
            "Authorizing flow",
            metadata: ["client.id": "\(client)", "resource.id": "\(resource.id)", "gateway.id": "\(gateway.id)"]
        )
        self.pushToGateway(
            gateway.id,
            .authorizeFlow(
                AuthorizeFlow(
                    ref: ref,
                    resource: resource.gatewayResource,
                    client: FlowClient(
                        id: client,
                        publicKey: clientKey,
                        presharedKey: self.presharedKey(
                            client: client,
                            clientKey: clientKey,
                            gateway: gateway.id,
                            gatewayKey: gatewayKey
                        ),
                        ipv4: ipv4,
                        ipv6: ipv6
                    ),
                    clientIceCredentials: clientCredentials,
                    gatewayIceCredentials: gatewayCredentials,
                    expiresAt: flow.expiresAt
                )
            )
        )
    }

    private func flowAuthorized(_ flow: Flow) {
        guard let gateway = self.gatewayDirectory.first(where: { $0.id == flow.gateway }),
            case .client(_, let clientKey)? = self.clientSockets[flow.client].flatMap({ self.sessions[$0]?.identity }),
            case .gateway(_, let gatewayKey)? = self.gatewaySockets[flow.gateway].flatMap({
                self.sessions[$0]?.identity
            })
        else {
            return
        }
        // A flow that ends when one already does adds nothing.
        let duplicates = self.flows.filter {
            $0.client == flow.client && $0.resource == flow.resource && $0.gateway == flow.gateway
                && $0.expiresAt == flow.expiresAt
        }
        self.removeFlows(duplicates.map(\.id))
        self.flows.append(flow)
        self.scheduleExpiry(of: flow)
        let (ipv4, ipv6) = self.addresses[gateway.id.rawValue]!
        let (clientCredentials, gatewayCredentials) = PortalCrypto.iceCredentials(
            client: flow.client,
            clientKey: clientKey,
            gateway: gateway.id,
            gatewayKey: gatewayKey
        )
        self.pushToClient(
            flow.client,
            .flowCreated(
                FlowCreated(
                    resourceID: flow.resource,
                    gatewayID: gateway.id,
                    siteID: gateway.siteID,
                    gatewayPublicKey: gatewayKey,
                    gatewayIPv4: ipv4,
                    gatewayIPv6: ipv6,
                    presharedKey: self.presharedKey(
                        client: flow.client,
                        clientKey: clientKey,
                        gateway: gateway.id,
                        gatewayKey: gatewayKey
                    ),
                    clientIceCredentials: clientCredentials,
                    gatewayIceCredentials: gatewayCredentials
                )
            )
        )
    }

    private func hasFlow(client: ClientID, gateway: GatewayID) -> Bool {
        self.flows.contains { $0.client == client && $0.gateway == gateway }
            || self.pendingFlows.contains { $0.flow.client == client && $0.flow.gateway == gateway }
    }

    // MARK: Flow expiry

    private func scheduleExpiry(of flow: Flow) {
        self.flowExpiries.removeValue(forKey: flow.id)?.cancel()
        // At most a century ahead, as for sessions: a far-future expiry must not overflow the timer.
        let now = Self.unixNanoseconds()
        let seconds = min(Int64(clamping: flow.expiresAt), now / 1_000_000_000 + 100 * 365 * 86_400)
        let delay = max(0, seconds * 1_000_000_000 - now)
        self.flowExpiries[flow.id] = self.loop.scheduleTask(in: .nanoseconds(delay)) {
            self.flowExpired(flow.id)
        }
    }

    /// A flow's time is up. As Firezone 685acdac3a's portal does when a flow goes: if another flow still
    /// authorizes the pair at that gateway, the gateway hears the expiry it has left; otherwise `reject_access`.
    /// The client needs a new flow to reach the resource through that gateway again.
    private func flowExpired(_ id: UInt64) {
        guard let flow = self.flows.first(where: { $0.id == id }) else {
            return
        }
        self.removeFlows([id])
        let remaining = self.flows.filter {
            $0.client == flow.client && $0.resource == flow.resource && $0.gateway == flow.gateway
        }
        self.logger.info(
            "Flow expired",
            metadata: [
                "client.id": "\(flow.client)", "resource.id": "\(flow.resource)", "gateway.id": "\(flow.gateway)",
            ]
        )
        if let longest = remaining.map(\.expiresAt).max() {
            self.pushToGateway(
                flow.gateway,
                .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(
                        clientID: flow.client,
                        resourceID: flow.resource,
                        expiresAt: longest
                    )
                )
            )
        } else {
            self.pushToGateway(
                flow.gateway,
                .rejectAccess(RejectAccess(clientID: flow.client, resourceID: flow.resource))
            )
        }
    }

    private func removeFlows(_ ids: [UInt64]) {
        for id in ids {
            self.flowExpiries.removeValue(forKey: id)?.cancel()
        }
        self.flows.removeAll { ids.contains($0.id) }
    }

    /// Unix time in nanoseconds, for timers that end at a Unix second.
    private static func unixNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    private func presharedKey(
        client: ClientID,
        clientKey: PublicKey,
        gateway: GatewayID,
        gatewayKey: PublicKey
    ) -> PresharedKey {
        PortalCrypto.presharedKey(
            clientBase: self.pskBases[client.rawValue]!,
            client: client,
            clientKey: clientKey,
            gatewayBase: self.pskBases[gateway.rawValue]!,
            gateway: gateway,
            gatewayKey: gatewayKey
        )
    }

    // MARK: Admin operations

    /// Adds or replaces a resource and tells whoever is affected.
    func upsertResource(_ entry: PortalConfiguration.ResourceEntry) throws(PortalConfigurationError) {
        self.loop.preconditionInEventLoop()
        let resource = try PortalConfiguration.ResourceEntry.check(
            entry,
            sites: Set(self.configuration.sites.map(\.id))
        )
        let previous = self.resources.firstIndex { $0.id == resource.id }
        if let previous {
            let old = self.resources[previous]
            self.resources[previous] = resource
            if old.type != resource.type || old.address != resource.address {
                // As in Firezone 685acdac3a's portal: a changed address or type ends every authorization of the
                // resource.
                self.endFlows { $0.resource == resource.id }
            } else if old.filters != resource.filters {
                for gateway in Set(self.flows.filter { $0.resource == resource.id }.map(\.gateway)).sorted() {
                    self.pushToGateway(gateway, .resourceUpdated(resource.gatewayResource))
                }
            }
        } else {
            self.resources.append(resource)
        }
        for client in self.clientSockets.keys.sorted()
        where self.visibleResources(client).contains(where: { $0.id == resource.id }) {
            self.pushToClient(
                client,
                .resourceCreatedOrUpdated(resource.clientResource(sites: self.sites(of: resource)))
            )
        }
    }

    /// Removes a resource: clients forget it, gateways end its flows. False if there was no such resource.
    func deleteResource(_ id: ResourceID) -> Bool {
        self.loop.preconditionInEventLoop()
        guard let index = self.resources.firstIndex(where: { $0.id == id }) else {
            return false
        }
        let visibleTo = self.clientSockets.keys.sorted().filter { client in
            self.visibleResources(client).contains { $0.id == id }
        }
        self.resources.remove(at: index)
        for client in visibleTo {
            self.pushToClient(client, .resourceDeleted(id))
        }
        self.endFlows { $0.resource == id }
        return true
    }

    /// Takes a resource away from one client. False if the client or resource is unknown.
    func revokeAccess(client: ClientID, resource: ResourceID) -> Bool {
        self.loop.preconditionInEventLoop()
        guard self.configuration.clients.contains(where: { $0.id == client }),
            self.resources.contains(where: { $0.id == resource })
        else {
            return false
        }
        let wasVisible = self.visibleResources(client).contains { $0.id == resource }
        self.revoked.insert(AccessPair(client: client, resource: resource))
        if wasVisible, self.clientSockets[client] != nil {
            self.pushToClient(client, .resourceDeleted(resource))
        }
        self.endFlows { $0.client == client && $0.resource == resource }
        return true
    }

    /// Moves the expiry of every flow of a client and resource, and tells each gateway serving the pair with
    /// `access_authorization_expiry_updated`. False if the pair has no flow.
    func updateAuthorizationExpiry(client: ClientID, resource: ResourceID, expiresAt: UInt64) -> Bool {
        self.loop.preconditionInEventLoop()
        let matching = self.flows.filter { $0.client == client && $0.resource == resource }
        guard !matching.isEmpty else {
            return false
        }
        self.removeFlows(matching.map(\.id))
        var gateways: [GatewayID] = []
        for flow in matching where !gateways.contains(flow.gateway) {
            gateways.append(flow.gateway)
            var updated = flow
            updated.expiresAt = expiresAt
            self.flows.append(updated)
            self.scheduleExpiry(of: updated)
        }
        for gateway in gateways.sorted() {
            self.pushToGateway(
                gateway,
                .accessAuthorizationExpiryUpdated(
                    AccessAuthorizationExpiryUpdated(clientID: client, resourceID: resource, expiresAt: expiresAt)
                )
            )
        }
        return true
    }

    /// Changes what clients' interfaces carry besides their addresses; every joined client gets `config_changed`.
    func updateInterface(_ update: InterfaceUpdate) {
        self.loop.preconditionInEventLoop()
        if let upstreamDNS = update.upstreamDNS {
            self.configuration.upstreamDNS = upstreamDNS
        }
        if let searchDomain = update.searchDomain {
            self.configuration.searchDomain = searchDomain
        }
        for client in self.clientSockets.keys.sorted() {
            self.pushToClient(client, .configChanged(ConfigChanged(interface: self.clientInterface(client))))
        }
    }

    /// Expires a component's token: its socket is told `token_expired` and closed, and the token is refused from then
    /// on.
    func expireToken(of component: String) -> Bool {
        self.loop.preconditionInEventLoop()
        // A site token's gateway shares the token with its site's other gateways: they all lose it.
        let siteToken = self.gatewayDirectory.first { $0.id.rawValue == component && $0.externalID != nil }
            .flatMap { gateway in self.configuration.sites.first { $0.id == gateway.siteID }?.token }
        let token =
            self.configuration.clients.first { $0.id.rawValue == component }?.token
            ?? self.configuration.gateways.first { $0.id.rawValue == component }?.token
            ?? siteToken
            ?? self.configuration.relays.first { $0.id.rawValue == component }?.token
        guard let token else {
            return false
        }
        self.expiredTokens.insert(token)
        for (id, session) in self.sessions.sorted(by: { $0.key < $1.key }) where session.token == token {
            self.disconnect(socket: id, reason: "token_expired")
        }
        return true
    }

    /// Tells a socket's component why it is being disconnected, then closes the socket.
    private func disconnect(socket id: UInt64, reason: String) {
        guard let session = self.sessions[id] else {
            return
        }
        let message = PhoenixMessage<RelayInbound, EmptyPayload>(
            topic: session.identity.topic,
            body: .disconnect(reason: reason),
            ref: nil
        )
        session.socket.send(PortalCodec.encode(message))
        session.socket.close()
    }

    /// Who is joined, by kind, sorted.
    func presence() -> PresenceReport {
        self.loop.preconditionInEventLoop()
        return PresenceReport(
            clients: self.clientSockets.keys.sorted(),
            gateways: self.gatewaySockets.keys.sorted(),
            relays: self.relays.keys.sorted()
        )
    }

    /// Every gateway known, in directory order, with whether it is joined.
    func gatewayReport() -> [GatewayReport] {
        self.loop.preconditionInEventLoop()
        return self.gatewayDirectory.map {
            GatewayReport(
                id: $0.id,
                siteID: $0.siteID,
                name: $0.name,
                externalID: $0.externalID,
                online: self.gatewaySockets[$0.id] != nil
            )
        }
    }

    /// The authorized flows, for tests.
    func flowReport() -> [FlowReport] {
        self.loop.preconditionInEventLoop()
        return self.flows.map {
            FlowReport(clientID: $0.client, resourceID: $0.resource, gatewayID: $0.gateway, expiresAt: $0.expiresAt)
        }
    }

    private func endFlows(where matches: (Flow) -> Bool) {
        let ended = self.flows.filter(matches)
        self.removeFlows(ended.map(\.id))
        self.pendingFlows.removeAll { matches($0.flow) }
        var seen = Set<String>()
        for flow in ended where seen.insert("\(flow.gateway)|\(flow.client)|\(flow.resource)").inserted {
            self.pushToGateway(
                flow.gateway,
                .rejectAccess(RejectAccess(clientID: flow.client, resourceID: flow.resource))
            )
        }
    }

    // MARK: Helpers

    private func policies(client: ClientID, resource: ResourceID) -> [PortalConfiguration.PolicyEntry] {
        guard let entry = self.configuration.clients.first(where: { $0.id == client }) else {
            return []
        }
        return self.configuration.policies.filter { $0.resourceID == resource && entry.groupIDs.contains($0.groupID) }
    }

    private func visibleResources(_ client: ClientID) -> [PortalConfiguration.ResourceEntry] {
        self.resources.filter { resource in
            !self.revoked.contains(AccessPair(client: client, resource: resource.id))
                && !self.policies(client: client, resource: resource.id).isEmpty
        }
    }

    private func sites(of resource: PortalConfiguration.ResourceEntry) -> [Site] {
        resource.siteIDs.compactMap { id in
            self.configuration.sites.first { $0.id == id }.map { Site(id: $0.id, name: $0.name) }
        }
    }

    private func clientTokenExpiry(_ client: ClientID) -> UInt64 {
        self.configuration.clients.first { $0.id == client }?.tokenExpiresAt ?? self.startedAt
            + Self.defaultClientTokenLifetime
    }

    private func pushToClient(_ client: ClientID, _ event: ClientInbound) {
        guard let socket = self.clientSockets[client].flatMap({ self.sessions[$0]?.socket }) else { return }
        self.push(event, topic: ClientTopic.self, to: socket)
    }

    private func pushToGateway(_ gateway: GatewayID, _ event: GatewayInbound) {
        guard let socket = self.gatewaySockets[gateway].flatMap({ self.sessions[$0]?.socket }) else { return }
        self.push(event, topic: GatewayTopic.self, to: socket)
    }

    private func push<Topic: PortalTopic>(_ event: Topic.Inbound, topic: Topic.Type, to socket: any PortalSocket) {
        socket.send(
            PortalCodec.encode(
                PhoenixMessage<Topic.Inbound, EmptyPayload>(topic: Topic.name, body: .event(event), ref: nil)
            )
        )
    }

    private func reply(_ reply: PhoenixReply, topic: String, ref: PhoenixRef?, on socket: any PortalSocket) {
        socket.send(
            PortalCodec.encode(PhoenixMessage<RelayInbound, EmptyPayload>(topic: topic, body: .reply(reply), ref: ref))
        )
    }

    /// An opaque flow reference: 16 random bytes in hex.
    private static func randomReference() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

public struct PresenceReport: Codable, Sendable, Equatable {
    public var clients: [ClientID]
    public var gateways: [GatewayID]
    public var relays: [RelayID]
}

public struct GatewayReport: Codable, Sendable, Equatable {
    public var id: GatewayID
    public var siteID: SiteID
    public var name: String
    public var externalID: String?
    public var online: Bool

    public init(id: GatewayID, siteID: SiteID, name: String, externalID: String?, online: Bool) {
        self.id = id
        self.siteID = siteID
        self.name = name
        self.externalID = externalID
        self.online = online
    }

    enum CodingKeys: String, CodingKey {
        case id, name, online
        case siteID = "site_id"
        case externalID = "external_id"
    }
}

/// The body of `PATCH /v1/interface`: a key that is present replaces the value; `"search_domain": null` removes it.
public struct InterfaceUpdate: Decodable, Sendable {
    public var upstreamDNS: [IPSocketAddress]?
    /// nil: unchanged; `.some(nil)`: removed.
    public var searchDomain: String??

    enum CodingKeys: String, CodingKey {
        case upstreamDNS = "upstream_dns"
        case searchDomain = "search_domain"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.upstreamDNS = try container.decodeIfPresent([IPSocketAddress].self, forKey: .upstreamDNS)
        if container.contains(.searchDomain) {
            self.searchDomain = .some(
                try container.decodeNil(forKey: .searchDomain)
                    ? nil : try container.decode(String.self, forKey: .searchDomain)
            )
        }
    }
}

public struct FlowReport: Codable, Sendable, Equatable {
    public var clientID: ClientID
    public var resourceID: ResourceID
    public var gatewayID: GatewayID
    public var expiresAt: UInt64

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case resourceID = "resource_id"
        case gatewayID = "gateway_id"
        case expiresAt = "expires_at"
    }
}

extension String {
    var trimmingWhitespace: String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
