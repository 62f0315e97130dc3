import FirezoneCrypto
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PhoenixChannel
import PhoenixCore
import PortalMessages
import PortalServer

/// A portal on an ephemeral localhost port, with its admin API, in this process.
package final class PortalFixture: Sendable {
    package let group: MultiThreadedEventLoopGroup
    package let portal: Portal
    package let server: PortalServer
    package let admin: AdminServer

    package let scheme: String

    package init(
        configuration: PortalConfiguration = .test,
        port: Int = 0,
        options: Portal.Options = .test,
        tls: NIOSSLContext? = nil
    ) async throws {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.portal = Portal(
            configuration: configuration,
            options: options,
            loop: self.group.next(),
            logger: testLogger
        )
        self.server = try await PortalServer(portal: self.portal, host: "127.0.0.1", port: port, tls: tls)
        self.admin = try await AdminServer(portal: self.portal, host: "127.0.0.1", port: 0)
        self.scheme = tls == nil ? "ws" : "wss"
    }

    package var port: Int { self.server.port }
    package var apiURL: String { "\(self.scheme)://127.0.0.1:\(self.port)" }

    /// Stops serving and drops every socket, as a portal restart does.
    package func stop() async throws {
        try await self.server.close()
        try await self.admin.close()
        try await self.group.shutdownGracefully()
    }

    /// An admin API request; the status and body.
    package func admin(_ method: String, _ path: String, body: String = "") async throws -> (Int, String) {
        try await HTTPRequest.send(
            method: method,
            host: "127.0.0.1",
            port: self.admin.port,
            path: path,
            body: body,
            group: self.group
        )
    }
}

package let testLogger = Logger(label: "portal-tests", factory: { _ in SwiftLogNoOpLogHandler() })

extension Portal.Options {
    package static var test: Portal.Options {
        var options = Portal.Options()
        options.relayLeaveDebounce = .milliseconds(200)
        return options
    }
}

/// Identities of the test configuration.
package enum TestWorld {
    package static let site = SiteID("site-a")
    package static let otherSite = SiteID("site-b")
    package static let gateway1 = GatewayID("gw-1")
    package static let gateway2 = GatewayID("gw-2")
    package static let client = ClientID("client-1")
    package static let outsider = ClientID("client-2")
    package static let relay = RelayID("relay-1")
    package static let lan = ResourceID("res-lan")
    package static let corp = ResourceID("res-corp")
    package static let remote = ResourceID("res-remote")
    package static let elsewhere = ResourceID("res-elsewhere")
    package static let hidden = ResourceID("res-hidden")

    package static func key(_ byte: UInt8) -> PublicKey {
        PublicKey(bytes: [UInt8](repeating: byte, count: 32))!
    }
}

extension PortalConfiguration {
    package static var test: PortalConfiguration {
        try! PortalConfiguration.parse(
            #"""
            {
              "account_slug": "test",
              "upstream_dns": ["1.1.1.1:53"],
              "search_domain": "corp.example",
              "sites": [{"id": "site-a", "name": "Site A"}, {"id": "site-b", "name": "Site B"}],
              "gateways": [
                {"id": "gw-1", "name": "gw-1", "site_id": "site-a", "token": "gw-1-token"},
                {"id": "gw-2", "name": "gw-2", "site_id": "site-a", "token": "gw-2-token"},
                {"id": "gw-3", "name": "gw-3", "site_id": "site-b", "token": "gw-3-token"}
              ],
              "resources": [
                {"id": "res-lan", "type": "cidr", "address": "172.20.0.0/16", "name": "LAN", "site_ids": ["site-a"], "filters": []},
                {"id": "res-corp", "type": "dns", "address": "*.corp.example", "name": "Corp", "site_ids": ["site-a"],
                 "filters": [{"protocol": "tcp", "port_range_start": 443, "port_range_end": 443}]},
                {"id": "res-remote", "type": "cidr", "address": "10.9.0.0/16", "name": "Remote-only", "site_ids": ["site-a"]},
                {"id": "res-elsewhere", "type": "internet", "site_ids": ["site-b"]},
                {"id": "res-hidden", "type": "cidr", "address": "10.10.0.0/16", "name": "Hidden", "site_ids": ["site-a"]}
              ],
              "groups": [{"id": "everyone", "name": "Everyone"}, {"id": "admins", "name": "Admins"}],
              "clients": [
                {"id": "client-1", "name": "laptop", "token": "client-1-token", "group_ids": ["everyone"], "token_expires_at": 4102444800},
                {"id": "client-2", "name": "phone", "token": "client-2-token", "group_ids": []}
              ],
              "policies": [
                {"group_id": "everyone", "resource_id": "res-lan"},
                {"group_id": "everyone", "resource_id": "res-corp"},
                {"group_id": "everyone", "resource_id": "res-remote", "remote_ip": ["10.0.0.0/8"]},
                {"group_id": "everyone", "resource_id": "res-elsewhere"},
                {"group_id": "admins", "resource_id": "res-hidden"}
              ],
              "relays": [{"id": "relay-1", "name": "relay-1", "token": "relay-1-token"}]
            }
            """#
        )
    }
}

/// Opens a library channel to the portal.
package func connect<Topic: PortalTopic>(
    _ topic: Topic.Type,
    to apiURL: String,
    token: String,
    parameters: LoginParameters,
    joinPayload: Topic.JoinPayload,
    partitionTime: Duration? = .seconds(60),
    trustRootsPEMFile: String? = nil,
    group: any EventLoopGroup
) throws -> (PhoenixChannel<Topic>, EventLog<Topic.Inbound>) {
    let channel = try PhoenixChannel<Topic>(
        configuration: .init(
            url: try PortalURL(apiURL: apiURL, topic: Topic.name, token: token, parameters: parameters),
            joinPayload: joinPayload,
            partitionTime: partitionTime,
            userAgent: UserAgent.make(component: "headless-client", version: "0.0.0"),
            trustRootsPEMFile: trustRootsPEMFile
        ),
        group: group,
        logger: testLogger
    )
    return (channel, EventLog(channel.events))
}

package func connectClient(
    _ fixture: PortalFixture,
    token: String = "client-1-token",
    key: PublicKey = TestWorld.key(1),
    group: any EventLoopGroup
) throws -> (PhoenixChannel<ClientTopic>, EventLog<ClientInbound>) {
    try connect(
        ClientTopic.self,
        to: fixture.apiURL,
        token: token,
        parameters: .client(id: "ext", name: "laptop", publicKey: key.base64),
        joinPayload: EmptyPayload(),
        group: group
    )
}

package func connectGateway(
    _ fixture: PortalFixture,
    token: String = "gw-1-token",
    key: PublicKey = TestWorld.key(2),
    group: any EventLoopGroup
) throws -> (PhoenixChannel<GatewayTopic>, EventLog<GatewayInbound>) {
    try connect(
        GatewayTopic.self,
        to: fixture.apiURL,
        token: token,
        parameters: .gateway(id: "ext", name: "gw", publicKey: key.base64),
        joinPayload: EmptyPayload(),
        group: group
    )
}
