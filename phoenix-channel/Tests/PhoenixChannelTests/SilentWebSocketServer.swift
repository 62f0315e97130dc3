import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A WebSocket server that accepts every upgrade and never answers: the portal that hangs. Given a close code, it
/// ends each socket with a close frame once the join arrives.
final class SilentWebSocketServer: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    private let joins: Joins

    init(closingAfterTheJoinWith closeCode: WebSocketErrorCode? = nil) async throws {
        let joins = Joins(promise: self.group.next().makePromise())
        self.joins = joins
        self.channel = try await ServerBootstrap(group: self.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOWebSocketServerUpgrader(
                        shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                        upgradePipelineHandler: { channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                let handler = JoinReader(request: head, joins: joins, closeCode: closeCode)
                                try channel.pipeline.syncOperations.addHandler(handler)
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { self.channel.localAddress?.port ?? 0 }

    /// The upgrade request of the first socket that sent a `phx_join`, and that frame's text.
    func firstJoin() async throws -> (request: HTTPRequestHead, text: String) {
        try await self.joins.promise.futureResult.get()
    }

    func close() async throws {
        self.joins.cancel()
        try await self.channel.close()
        try await self.group.shutdownGracefully()
    }

    private final class Joins: Sendable {
        let promise: EventLoopPromise<(request: HTTPRequestHead, text: String)>
        private let seen = Mutex(false)

        init(promise: EventLoopPromise<(request: HTTPRequestHead, text: String)>) {
            self.promise = promise
        }

        func record(_ request: HTTPRequestHead, _ text: String) {
            // A promise is fulfilled once; later joins (reconnects) are not what the tests read.
            if self.claim() {
                self.promise.succeed((request, text))
            }
        }

        /// Fails the wait of a test that saw no join, so that no promise is left unfulfilled.
        func cancel() {
            if self.claim() {
                self.promise.fail(ChannelError.ioOnClosedChannel)
            }
        }

        private func claim() -> Bool {
            self.seen.withLock { seen in
                defer { seen = true }
                return !seen
            }
        }
    }

    private final class JoinReader: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame

        let request: HTTPRequestHead
        let joins: Joins
        let closeCode: WebSocketErrorCode?

        init(request: HTTPRequestHead, joins: Joins, closeCode: WebSocketErrorCode?) {
            self.request = request
            self.joins = joins
            self.closeCode = closeCode
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = self.unwrapInboundIn(data)
            let text = String(buffer: frame.unmaskedData)
            guard frame.opcode == .text, text.contains("phx_join") else {
                return
            }
            self.joins.record(self.request, text)
            if let closeCode = self.closeCode {
                var body = context.channel.allocator.buffer(capacity: 2)
                body.write(webSocketErrorCode: closeCode)
                let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: body)
                let channel = context.channel
                context.writeAndFlush(self.wrapOutboundOut(close)).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
