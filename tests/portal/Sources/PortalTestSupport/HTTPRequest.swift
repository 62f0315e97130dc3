import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP/1.1 request over a fresh connection, for the admin API and refused upgrades.
package enum HTTPRequest {
    package static func send(
        method: String,
        host: String,
        port: Int,
        path: String,
        headers: [(String, String)] = [],
        body: String = "",
        group: any EventLoopGroup
    ) async throws -> (Int, String) {
        let collector = ResponseCollector(promise: group.next().makePromise())
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: host, port: port).get()
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        for (name, value) in headers {
            head.headers.add(name: name, value: value)
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        let result = try await collector.promise.futureResult.get()
        try? await channel.close()
        return result
    }
}

private final class ResponseCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<(Int, String)>
    private let state = Mutex<(status: Int, body: String, done: Bool)>((0, "", false))

    init(promise: EventLoopPromise<(Int, String)>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.state.withLock { $0.status = Int(head.status.code) }
        case .body(let buffer):
            self.state.withLock { $0.body += String(buffer: buffer) }
        case .end:
            let (status, body) = self.state.withLock { state in
                state.done = true
                return (state.status, state.body)
            }
            self.promise.succeed((status, body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.state.withLock({ $0.done }) {
            self.promise.fail(ChannelError.eof)
        }
    }
}
