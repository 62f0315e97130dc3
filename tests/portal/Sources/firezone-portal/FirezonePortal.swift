import ArgumentParser
import Dispatch
import Logging
import NIOPosix
import NIOSSL
import PortalServer

#if canImport(Glibc)
import Glibc
#endif

/// A Firezone portal for local runs: the Phoenix protocol of Firezone 685acdac3a for clients, gateways and relays,
/// configured by one JSON file (see `PortalConfiguration`), with an admin API on localhost.
@main
struct FirezonePortal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firezone-portal",
        abstract: "A Firezone portal for tests and demos."
    )

    @Option(help: "The configuration file (JSON).")
    var config: String
    @Option(help: "Address of the WebSocket endpoint.")
    var listen = "127.0.0.1:8081"
    @Option(help: "Address of the admin API (keep it on localhost).")
    var admin = "127.0.0.1:8082"
    @Option(help: "Seconds a relay may be gone before clients and gateways are told (Firezone's portal: 3).")
    var relayDebounce = 3.0
    @Option(help: "Seconds of silence after which any socket is closed (default: 307 client, 37 gateway, 41 relay).")
    var socketTimeout: Double?
    @Option(help: "Seed of the random choice among a site's gateways, for repeatable runs (default: random).")
    var seed: UInt64?
    @Option(help: "PEM certificate chain: serve wss:// instead of ws:// (with --tls-key).")
    var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    func run() async throws {
        var logger = Logger(label: "firezone-portal", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .info
        let configuration: PortalConfiguration
        do {
            configuration = try PortalConfiguration.load(path: self.config)
        } catch {
            throw ValidationError(error.description)
        }
        guard let listen = Self.split(self.listen), let admin = Self.split(self.admin) else {
            throw ValidationError("--listen and --admin take HOST:PORT")
        }
        var options = Portal.Options()
        options.relayLeaveDebounce = .milliseconds(Int64(self.relayDebounce * 1000))
        options.gatewaySelectionSeed = self.seed
        if let socketTimeout {
            let timeout = Duration.milliseconds(Int64(socketTimeout * 1000))
            options.clientSocketTimeout = timeout
            options.gatewaySocketTimeout = timeout
            options.relaySocketTimeout = timeout
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let portal = Portal(configuration: configuration, options: options, loop: group.next(), logger: logger)
        var tls: NIOSSLContext?
        switch (self.tlsCert, self.tlsKey) {
        case (let certificate?, let key?):
            do {
                tls = try PortalServer.tlsContext(certificatePath: certificate, privateKeyPath: key)
            } catch {
                throw ValidationError("cannot load --tls-cert/--tls-key: \(error)")
            }
        case (nil, nil):
            tls = nil
        default:
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        let server = try await PortalServer(portal: portal, host: listen.host, port: listen.port, tls: tls)
        let adminServer = try await AdminServer(portal: portal, host: admin.host, port: admin.port)
        logger.info(
            "Portal listening",
            metadata: ["listen": "\(listen.host):\(server.port)", "admin": "\(admin.host):\(adminServer.port)"]
        )
        // Until SIGTERM or SIGINT, then exit 0 as the other components do; the state lives in memory only.
        let signalNumber = await Self.terminationSignal()
        logger.info("Portal stopping", metadata: ["signal": "\(signalNumber)"])
        try await adminServer.close()
        try await server.close()
        try await group.shutdownGracefully()
    }

    /// Waits for SIGTERM or SIGINT, whose default action (ending the process with the signal) is replaced.
    static func terminationSignal() async -> Int32 {
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { continuation.yield(signalNumber) }
            source.resume()
            sources.append(source)
        }
        defer {
            for source in sources {
                source.cancel()
            }
        }
        var iterator = signals.makeAsyncIterator()
        return await iterator.next() ?? SIGTERM
    }

    static func split(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        return (host, port)
    }
}
