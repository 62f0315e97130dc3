import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import PhoenixCore

/// What a WebSocket attempt reports, always on its event loop, at most one of `connected`/`connectFailed` and
/// after `connected` at most one `disconnected`.
protocol WebSocketDelegate: AnyObject, Sendable {
    func connected(_ connection: PhoenixConnectionID)
    func connectFailed(_ connection: PhoenixConnectionID, _ failure: PhoenixConnectFailure)
    func received(_ text: String, on connection: PhoenixConnectionID)
    func disconnected(_ connection: PhoenixConnectionID, _ closure: PhoenixSocketClosure)
}

/// Opens client WebSockets: TCP (5 s connect timeout), TLS for `wss://`, the HTTP/1.1 upgrade, then text frames.
struct WebSocketConnector: Sendable {
    /// The largest message we accept from the portal; an `init` with thousands of resources stays far below.
    static let maximumMessageSize = 1 << 24

    private let userAgent: String
    /// nil for `ws://`.
    private let tls: NIOSSLContext?

    /// `tls`: whether the portal is a `wss://` one. Only then are trust roots loaded, so that a plain `ws://` portal
    /// (a local one) needs no trust store on the host, as in a container image without ca-certificates.
    init(userAgent: String, trustRootsPEMFile: String?, tls: Bool) throws {
        // Non-ASCII is stripped from the header, as Firezone 685acdac3a does.
        self.userAgent = String(userAgent.unicodeScalars.filter(\.isASCII).map(Character.init))
        guard tls else {
            self.tls = nil
            return
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let trustRootsPEMFile {
            configuration.trustRoots = .file(trustRootsPEMFile)
        }
        self.tls = try NIOSSLContext(configuration: configuration)
    }

    func connect(
        to url: PortalURL,
        on loop: any EventLoop,
        delegate: some WebSocketDelegate,
        id: PhoenixConnectionID
    ) -> WebSocketConnection {
        let connection = WebSocketConnection(loop: loop)
        var headers = HTTPHeaders()
        let defaultPort = url.scheme == .wss ? 443 : 80
        let host = url.host.contains(":") ? "[\(url.host)]" : url.host
        headers.add(name: "Host", value: url.port == defaultPort ? host : "\(host):\(url.port)")
        headers.add(name: "User-Agent", value: self.userAgent)
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.requestTarget, headers: headers)
        let tls = url.scheme == .wss ? self.tls : nil
        // SNI and certificate names are for host names, never for literal addresses.
        let serverName = IPAddressText.isAddress(url.host) ? nil : url.host

        ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(PhoenixConstants.tcpConnectTimeout.nanoseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    let upgrader = NIOWebSocketClientUpgrader(
                        maxFrameSize: Self.maximumMessageSize,
                        automaticErrorHandling: true
                    ) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let pipeline = channel.pipeline.syncOperations
                            pipeline.removeHandler(name: UpgradeResponseHandler.name).whenComplete { _ in }
                            try pipeline.addHandler(
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0,
                                    maxAccumulatedFrameCount: 4096,
                                    maxAccumulatedFrameSize: Self.maximumMessageSize
                                )
                            )
                            try pipeline.addHandler(WebSocketFrameHandler(delegate: delegate, id: id))
                            delegate.connected(id)
                        }
                    }
                    try pipeline.addHTTPClientHandlers(
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                    try pipeline.addHandler(
                        UpgradeResponseHandler(request: request, delegate: delegate, id: id),
                        name: UpgradeResponseHandler.name
                    )
                }
            }
            // The host is resolved again for every attempt, so a portal that moves is found after a reconnect
            // (Firezone 685acdac3a resolves it once at start-up; later Firezone versions resolve it per attempt).
            .connect(host: url.host, port: url.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    connection.attach(channel)
                case .failure(let error):
                    guard !connection.isClosed else { return }
                    delegate.connectFailed(id, .transport("\(error)"))
                }
            }
        return connection
    }
}

/// One WebSocket: the owner's handle to send text and to close it.
///
/// `@unchecked Sendable`: its state is touched on `loop` only (the connector's callbacks and the driver both run
/// there).
final class WebSocketConnection: @unchecked Sendable {
    private let loop: any EventLoop
    private var channel: (any Channel)?
    private(set) var isClosed = false

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func attach(_ channel: any Channel) {
        self.loop.preconditionInEventLoop()
        if self.isClosed {
            channel.close(promise: nil)
        } else {
            self.channel = channel
        }
    }

    func send(_ text: String) {
        self.loop.preconditionInEventLoop()
        guard let channel = self.channel, !self.isClosed else {
            return
        }
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text))
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Sends a normal-closure frame, then closes. Nothing more is reported for this connection.
    func close() {
        self.loop.preconditionInEventLoop()
        guard !self.isClosed else {
            return
        }
        self.isClosed = true
        guard let channel = self.channel else {
            return
        }
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .normalClosure)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Sends the upgrade request once the connection is up and reports an upgrade the server refused, with the
/// response's status and plain-text body (the portal's reason: "Invalid token", …).
private final class UpgradeResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    static let name = "portal-upgrade-response"
    /// The body of a refusal is a short reason; more is cut.
    static let maximumBodySize = 4096

    private let request: HTTPRequestHead
    private let delegate: any WebSocketDelegate
    private let id: PhoenixConnectionID
    private var status: Int?
    private var body = ""
    private var reported = false

    init(request: HTTPRequestHead, delegate: any WebSocketDelegate, id: PhoenixConnectionID) {
        self.request = request
        self.delegate = delegate
        self.id = id
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(self.wrapOutboundOut(.head(self.request)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = Int(head.status.code)
        case .body(let buffer):
            if self.body.utf8.count < Self.maximumBodySize {
                self.body += String(buffer: buffer)
            }
        case .end:
            self.report(.upgradeRejected(status: self.status ?? 0, body: self.trimmedBody), context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if TLSFailure.rejectsCertificate(error) {
            self.report(.tls("\(error)"), context: context)
        } else if error is NIOSSLError || error is NIOSSLExtraError {
            self.report(.transport("TLS: \(error)"), context: context)
        } else {
            self.report(.transport("\(error)"), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let status = self.status {
            self.report(.upgradeRejected(status: status, body: self.trimmedBody), context: context)
        } else {
            self.report(.transport("the connection closed during the WebSocket upgrade"), context: context)
        }
        context.fireChannelInactive()
    }

    private var trimmedBody: String {
        String(self.body.prefix(Self.maximumBodySize)).trimming { $0.isWhitespace }
    }

    private func report(_ failure: PhoenixConnectFailure, context: ChannelHandlerContext) {
        guard !self.reported else {
            return
        }
        self.reported = true
        self.delegate.connectFailed(self.id, failure)
        context.close(promise: nil)
    }
}

/// Text frames up to the delegate; pings answered; a close frame or a dead socket reported once.
private final class WebSocketFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let delegate: any WebSocketDelegate
    private let id: PhoenixConnectionID
    private var closure = PhoenixSocketClosure.connectionClosed

    init(delegate: any WebSocketDelegate, id: PhoenixConnectionID) {
        self.delegate = delegate
        self.id = id
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            self.delegate.received(String(buffer: frame.unmaskedData), on: self.id)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // RFC 6455 §5.5.1: the body, if any, starts with a two-byte status code.
            self.closure = .closeFrame(code: frame.unmaskedData.getInteger(at: frame.unmaskedData.readerIndex))
            context.close(promise: nil)
        default:
            // Binary and pong frames carry nothing for us.
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.closure = .failed("\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.delegate.disconnected(self.id, self.closure)
        context.fireChannelInactive()
    }
}

/// Whether a host is a literal IPv4 or IPv6 address.
enum IPAddressText {
    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
    }
}
