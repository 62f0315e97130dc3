import Foundation
import NIOPosix
import NIOSSL
import PhoenixCore
import PortalMessages
import PortalServer
import PortalTestSupport
import Testing

/// `wss://`: PhoenixChannel over TLS to the portal, and a certificate it must not trust.
@Suite(.timeLimit(.minutes(1)))
struct TLSTests {
    /// A throwaway self-signed certificate for `name` (and, for `localhost`, 127.0.0.1), made with the openssl tool.
    static func makeCertificate(name: String = "localhost") throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=\(name)",
            "-addext", name == "localhost" ? "subjectAltName=DNS:localhost,IP:127.0.0.1" : "subjectAltName=DNS:\(name)",
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl could not make a certificate")
        return (certificate, key)
    }

    @Test(arguments: ["wss://localhost", "https://127.0.0.1"])
    func joinsOverTLSWithATrustedCertificate(base: String) async throws {
        let (certificate, key) = try Self.makeCertificate()
        let fixture = try await PortalFixture(
            tls: try PortalServer.tlsContext(certificatePath: certificate, privateKeyPath: key)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connect(
            ClientTopic.self,
            to: "\(base):\(fixture.port)",
            token: "client-1-token",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            trustRootsPEMFile: certificate,
            group: group
        )
        try await events.next { $0 == .joined ? () : nil }
        try await events.next { $0.message.map { if case .initialize = $0 { () } else { nil } } ?? nil }
        channel.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    /// Trust roots are for TLS alone: a `ws://` portal connection loads none, so a host without a trust store (a
    /// container image without ca-certificates) still reaches a local portal.
    @Test
    func aPlainConnectionLoadsNoTrustRoots() async throws {
        let fixture = try await PortalFixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connect(
            ClientTopic.self,
            to: fixture.apiURL,
            token: "client-1-token",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            trustRootsPEMFile: "/nonexistent/trust-roots.pem",
            group: group
        )
        try await events.next { $0 == .joined ? () : nil }
        channel.close()
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    @Test
    func anUntrustedCertificateIsFatal() async throws {
        let (certificate, key) = try Self.makeCertificate()
        let fixture = try await PortalFixture(
            tls: try PortalServer.tlsContext(certificatePath: certificate, privateKeyPath: key)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, events) = try connect(
            ClientTopic.self,
            to: "wss://localhost:\(fixture.port)",
            token: "client-1-token",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            group: group
        )
        let failure = try await events.next { event -> PhoenixFailure? in
            if case .failed(let failure) = event { failure } else { nil }
        }
        guard case .tls = failure.kind else {
            Issue.record("not a TLS failure: \(failure)")
            return
        }
        #expect(failure.description.hasPrefix("TLS with the portal failed"))
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    /// A certificate the client trusts, but for another name: as fatal as an untrusted one.
    @Test
    func aCertificateForAnotherNameIsFatal() async throws {
        let (certificate, key) = try Self.makeCertificate(name: "portal.example")
        let fixture = try await PortalFixture(
            tls: try PortalServer.tlsContext(certificatePath: certificate, privateKeyPath: key)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (_, events) = try connect(
            ClientTopic.self,
            to: "wss://localhost:\(fixture.port)",
            token: "client-1-token",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            trustRootsPEMFile: certificate,
            group: group
        )
        let failure = try await events.next { event -> PhoenixFailure? in
            if case .failed(let failure) = event { failure } else { nil }
        }
        guard case .tls = failure.kind else {
            Issue.record("not a TLS failure: \(failure)")
            return
        }
        try await fixture.stop()
        try await group.shutdownGracefully()
    }

    /// A portal that resets or closes connections during the TLS handshake (a deploy draining its instances) is
    /// retried, never given up on: only certificate failures are fatal.
    @Test(arguments: [HandshakeBreakingServer.Ending.reset, .close])
    func aConnectionEndedDuringTheHandshakeIsRetried(_ ending: HandshakeBreakingServer.Ending) async throws {
        let server = try await HandshakeBreakingServer(ending: ending)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (channel, events) = try connect(
            ClientTopic.self,
            to: "wss://localhost:\(server.port)",
            token: "client-1-token",
            parameters: .client(id: "e", name: nil, publicKey: TestWorld.key(1).base64),
            joinPayload: EmptyPayload(),
            group: group
        )
        var causes: [PhoenixDisconnect] = []
        while causes.count < 3 {
            let event = try await events.next { event -> PhoenixEvent<ClientInbound>? in
                switch event {
                case .disconnected, .failed: event
                default: nil
                }
            }
            guard case .disconnected(let cause, _) = event else {
                Issue.record("gave up after \(causes): \(event)")
                break
            }
            causes.append(cause)
        }
        for cause in causes {
            guard case .connectFailed(.transport) = cause else {
                Issue.record("not a retried transport failure: \(cause)")
                continue
            }
        }
        #expect(server.endedConnections >= 3)
        channel.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
