import IPPacket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET /healthz` (200 while the process serves: liveness), `GET /readyz` (200 once `isReady` says so, else 503:
/// readiness, for a gateway or client the portal has joined) and `GET /metrics` (Prometheus text) on one address.
///
/// Firezone's gateway serves `/healthz` only (rust/gateway/src/main.rs); the later reference adds `/readyz`, which
/// tells an orchestrator when the component can take traffic rather than merely runs.
public final class HealthServer: Sendable {
    private let channel: any Channel

    /// Binds and starts serving; `metrics` renders the Prometheus text on each scrape, `isReady` answers `/readyz`.
    public init(
        address: IPSocketAddress,
        group: any EventLoopGroup,
        isReady: @escaping @Sendable () -> Bool = { true },
        metrics: @escaping @Sendable () -> String
    ) async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(HealthHandler(isReady: isReady, metrics: metrics))
                }
            }
        self.channel = try await bootstrap.bind(host: address.address.description, port: Int(address.port)).get()
    }

    /// The port actually bound (useful with port 0).
    public var port: Int? {
        self.channel.localAddress?.port
    }

    public func close() async throws {
        try await self.channel.close()
    }
}

private final class HealthHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let isReady: @Sendable () -> Bool
    let metrics: @Sendable () -> String

    init(isReady: @escaping @Sendable () -> Bool, metrics: @escaping @Sendable () -> String) {
        self.isReady = isReady
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = self.unwrapInboundIn(data) else {
            return
        }
        let (status, body, contentType): (HTTPResponseStatus, String, String)
        switch (request.method, request.uri) {
        case (.GET, "/healthz"):
            (status, body, contentType) = (.ok, "{}", "application/json")
        case (.GET, "/readyz"):
            (status, body, contentType) =
                self.isReady() ? (.ok, "{}", "application/json") : (.serviceUnavailable, "not ready\n", "text/plain")
        case (.GET, "/metrics"):
            (status, body, contentType) = (.ok, self.metrics(), "text/plain; version=0.0.4")
        default:
            (status, body, contentType) = (.notFound, "not found\n", "text/plain")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
            promise: nil
        )
        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
