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
    /// A throwaway self-signed certificate for `localhost` and 127.0.0.1, made with the openssl tool.
    static func makeCertificate() throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
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
}
