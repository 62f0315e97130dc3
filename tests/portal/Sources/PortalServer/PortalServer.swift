import IPPacket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import PortalMessages

/// The portal's WebSocket endpoint: `/client/websocket`, `/gateway/websocket`, `/relay/websocket` (under any path
/// prefix), authenticated by token before the upgrade. A refused upgrade gets its status and a plain-text reason.
public final class PortalServer: Sendable {
    private let channel: any Channel

    /// Binds `host:port` (port 0 picks one) on the portal's event loop; with `tls`, it serves `wss://`.
    public init(portal: Portal, host: String, port: Int, tls: NIOSSLContext? = nil) async throws {
        let loop = portal.loop
        let bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 24,
                        automaticErrorHandling: true,
                        shouldUpgrade: { channel, head in
                            let authorized = portal.authenticate(
                                uri: head.uri,
                                authorization: head.headers["X-Authorization"].first
                            )
                            return channel.eventLoop.makeSucceededFuture(
                                (try? authorized.get()) == nil ? nil : HTTPHeaders()
                            )
                        },
                        upgradePipelineHandler: { channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                guard
                                    case .success(let (identity, token)) = portal.authenticate(
                                        uri: head.uri,
                                        authorization: head.headers["X-Authorization"].first,
                                        upgrading: true
                                    )
                                else {
                                    channel.close(promise: nil)
                                    return
                                }
                                let timeout =
                                    switch identity {
                                    case .client: portal.options.clientSocketTimeout
                                    case .gateway: portal.options.gatewaySocketTimeout
                                    case .relay: portal.options.relaySocketTimeout
                                    }
                                let pipeline = channel.pipeline.syncOperations
                                // It sits behind the HTTP handlers the upgrade removed; frames must not reach it.
                                pipeline.removeHandler(name: RefusedUpgradeHandler.name).whenComplete { _ in }
                                try pipeline.addHandler(
                                    IdleStateHandler(readTimeout: .nanoseconds(timeout.nanoseconds))
                                )
                                try pipeline.addHandler(
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0,
                                        maxAccumulatedFrameCount: 4096,
                                        maxAccumulatedFrameSize: 1 << 24
                                    )
                                )
                                let handler = PortalSocketHandler(portal: portal)
                                try pipeline.addHandler(handler)
                                let remoteIP = channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
                                handler.attach(
                                    id: portal.open(handler, identity: identity, token: token, remoteIP: remoteIP),
                                    channel: channel
                                )
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        RefusedUpgradeHandler(portal: portal),
                        name: RefusedUpgradeHandler.name
                    )
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

    /// A server TLS context from PEM files of a certificate chain and its private key.
    public static func tlsContext(certificatePath: String, privateKeyPath: String) throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyPath, format: .pem))
        )
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Answers requests that were not upgraded: the portal's reason for a refused WebSocket, 400 for a plain GET of
/// a socket path, 404 for anything else.
private final class RefusedUpgradeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "portal-refused-upgrade"

    private let portal: Portal

    init(portal: Portal) {
        self.portal = portal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = self.unwrapInboundIn(data) else {
            return
        }
        let refusal: PortalRefusal
        switch self.portal.authenticate(uri: head.uri, authorization: head.headers["X-Authorization"].first) {
        case .failure(let reason):
            refusal = reason
        case .success:
            refusal = PortalRefusal(status: 400, reason: "WebSocket upgrade required")
        }
        HTTPResponder.respond(
            context: context,
            version: head.version,
            status: refusal.status,
            body: refusal.reason,
            contentType: "text/plain"
        )
    }
}

/// One upgraded socket: text frames to the portal, the portal's frames out, close reported once.
final class PortalSocketHandler: ChannelInboundHandler, PortalSocket {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let portal: Portal
    private var id: UInt64?
    private var channel: (any Channel)?

    init(portal: Portal) {
        self.portal = portal
    }

    func attach(id: UInt64, channel: any Channel) {
        self.id = id
        self.channel = channel
    }

    func send(_ text: String) {
        self.channel?.writeAndFlush(
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)),
            promise: nil
        )
    }

    func close() {
        self.channel?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if let id = self.id {
                self.portal.received(String(buffer: frame.unmaskedData), on: id)
            }
        case .ping:
            context.writeAndFlush(
                self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)),
                promise: nil
            )
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // Silent for the socket timeout: the portal ends it, as Phoenix does.
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let id = self.id {
            self.portal.closed(id)
        }
        self.channel = nil
        context.fireChannelInactive()
    }
}

enum HTTPResponder {
    static func respond(
        context: ChannelHandlerContext,
        version: HTTPVersion,
        status: Int,
        body: String,
        contentType: String
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
