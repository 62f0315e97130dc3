import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A bare WebSocket client that sends whatever text it is given: for feeding the portal what no well-behaved
/// component would send.
final class RawWebSocket: Sendable {
    private let channel: any Channel
    private let received: Received

    final class Received: Sendable {
        let frames = Mutex<[String]>([])
        let closed = Mutex(false)
    }

    init(port: Int, path: String, group: any EventLoopGroup) async throws {
        let received = Received()
        self.received = received
        let upgraded = group.next().makePromise(of: Void.self)
        self.channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(Collector(received: received))
                            upgraded.succeed()
                        }
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        self.channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await self.channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        try await upgraded.futureResult.get()
    }

    func send(_ text: String) async throws {
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text))
        try await self.channel.writeAndFlush(frame)
    }

    func sendBinary(_ bytes: [UInt8]) async throws {
        let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: ByteBuffer(bytes: bytes))
        try await self.channel.writeAndFlush(frame)
    }

    /// Waits until `count` frames have arrived (or a second passed) and returns them all.
    func frames(atLeast count: Int) async throws -> [String] {
        for _ in 0..<100 where self.received.frames.withLock({ $0.count }) < count {
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.received.frames.withLock { $0 }
    }

    var isClosed: Bool {
        self.received.closed.withLock { $0 }
    }

    func close() async throws {
        try await self.channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        let received: Received

        init(received: Received) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = self.unwrapInboundIn(data)
            if frame.opcode == .text {
                self.received.frames.withLock { $0.append(String(buffer: frame.unmaskedData)) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.received.closed.withLock { $0 = true }
            context.fireChannelInactive()
        }
    }
}
