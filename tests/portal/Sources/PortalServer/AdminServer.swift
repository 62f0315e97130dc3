import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PortalMessages

/// A small HTTP API on localhost for tests and demos:
///
/// - `GET /v1/presence`: joined clients, gateways and relays
/// - `GET /v1/gateways`: every known gateway (`id`, `site_id`, `name`, `external_id` for those signed in with a
///   site token, `online`)
/// - `GET /v1/flows`: authorized flows
/// - `PUT /v1/authorizations` with `{"client_id","resource_id","expires_at"}`: every flow of the pair now expires
///   then; the gateways serving it get `access_authorization_expiry_updated` (404 if the pair has no flow)
/// - `PATCH /v1/interface` with `{"upstream_dns": ["1.1.1.1:53"], "search_domain": "corp.example" | null}` (either
///   key may be left out): every joined client gets `config_changed`
/// - `PUT /v1/resources` with a resource as in the configuration file: add or replace it
/// - `DELETE /v1/resources/<id>`
/// - `POST /v1/clients/<id>/revoke/<resource id>`: take one resource away from one client
/// - `POST /v1/components/<id>/expire-token`: the component is told `token_expired` and its token stops working
public final class AdminServer: Sendable {
    /// Request bodies are small JSON documents.
    static let maximumBodySize = 64 * 1024

    private let channel: any Channel

    public init(portal: Portal, host: String, port: Int) async throws {
        let bootstrap = ServerBootstrap(group: portal.loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(portal: portal))
                }
            }
        self.channel = try await bootstrap.bind(host: host, port: port).get()
    }

    public var port: Int {
        self.channel.localAddress?.port ?? 0
    }

    public func close() async throws {
        try await self.channel.close()
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let portal: Portal
    private var head: HTTPRequestHead?
    private var body = ""

    init(portal: Portal) {
        self.portal = portal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = ""
        case .body(let buffer):
            guard self.body.utf8.count + buffer.readableBytes <= AdminServer.maximumBodySize else {
                self.respond(context, 413, "request body too large\n")
                return
            }
            self.body += String(buffer: buffer)
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let (status, text) = self.route(
                head.method,
                path: head.uri.split(separator: "?").first.map(String.init) ?? ""
            )
            self.respond(context, status, text)
        }
    }

    private func route(_ method: HTTPMethod, path: String) -> (Int, String) {
        let parts = path.split(separator: "/").map(String.init)
        switch (method, parts.count) {
        case (.GET, 2) where parts == ["v1", "presence"]:
            return (200, PortalCodec.encodeJSON(self.portal.presence()))
        case (.GET, 2) where parts == ["v1", "flows"]:
            return (200, PortalCodec.encodeJSON(self.portal.flowReport()))
        case (.GET, 2) where parts == ["v1", "gateways"]:
            return (200, PortalCodec.encodeJSON(self.portal.gatewayReport()))
        case (.PUT, 2) where parts == ["v1", "authorizations"]:
            let update: AccessAuthorizationExpiryUpdated
            do {
                update = try PortalCodec.decodeJSON(AccessAuthorizationExpiryUpdated.self, from: self.body)
            } catch {
                return (400, "invalid authorization: \(error.detail)\n")
            }
            return self.portal.updateAuthorizationExpiry(
                client: update.clientID,
                resource: update.resourceID,
                expiresAt: update.expiresAt
            ) ? (200, "{}") : (404, "no flow of client '\(update.clientID)' to resource '\(update.resourceID)'\n")
        case (.PATCH, 2) where parts == ["v1", "interface"]:
            do {
                self.portal.updateInterface(try PortalCodec.decodeJSON(InterfaceUpdate.self, from: self.body))
                return (200, "{}")
            } catch {
                return (400, "invalid interface: \(error.detail)\n")
            }
        case (.PUT, 2) where parts == ["v1", "resources"]:
            do {
                let entry = try PortalCodec.decodeJSON(PortalConfiguration.ResourceEntry.self, from: self.body)
                try self.portal.upsertResource(entry)
                return (200, "{}")
            } catch let error as PortalDecodingError {
                return (400, "invalid resource: \(error.detail)\n")
            } catch {
                return (400, "invalid resource: \(error)\n")
            }
        case (.DELETE, 3) where parts[0...1] == ["v1", "resources"]:
            return self.portal.deleteResource(ResourceID(parts[2])) ? (200, "{}") : (404, "no resource '\(parts[2])'\n")
        case (.POST, 5) where parts[0...1] == ["v1", "clients"] && parts[3] == "revoke":
            return self.portal.revokeAccess(client: ClientID(parts[2]), resource: ResourceID(parts[4]))
                ? (200, "{}") : (404, "no client '\(parts[2])' or resource '\(parts[4])'\n")
        case (.POST, 4) where parts[0...1] == ["v1", "components"] && parts[3] == "expire-token":
            return self.portal.expireToken(of: parts[2])
                ? (200, "{}") : (404, "no client, gateway or relay '\(parts[2])'\n")
        default:
            return (404, "not found\n")
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ status: Int, _ body: String) {
        HTTPResponder.respond(
            context: context,
            version: .http1_1,
            status: status,
            body: body,
            contentType: status == 200 ? "application/json" : "text/plain"
        )
    }
}
