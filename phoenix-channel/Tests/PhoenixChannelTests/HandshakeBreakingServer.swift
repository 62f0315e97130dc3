import Glibc
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A TCP server that ends every connection as soon as its first bytes (a TLS ClientHello) arrive: the portal
/// whose load balancer drops connections in the middle of the TLS handshake.
final class HandshakeBreakingServer: Sendable {
    enum Ending: Sendable, CustomTestStringConvertible {
        /// A TCP reset.
        case reset
        /// An orderly close (FIN) without a TLS alert.
        case close

        var testDescription: String {
            switch self {
            case .reset: "reset"
            case .close: "close"
            }
        }
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    private let counter: Counter

    init(ending: Ending) async throws {
        let counter = Counter()
        self.counter = counter
        self.channel = try await ServerBootstrap(group: self.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Breaker(ending: ending, counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { self.channel.localAddress?.port ?? 0 }

    /// How many connections were ended after sending their first bytes.
    var endedConnections: Int { self.counter.value.withLock { $0 } }

    func close() async throws {
        try await self.channel.close()
        try await self.group.shutdownGracefully()
    }

    private final class Counter: Sendable {
        let value = Mutex(0)
    }

    private final class Breaker: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        let ending: Ending
        let counter: Counter
        var ended = false

        init(ending: Ending, counter: Counter) {
            self.ending = ending
            self.counter = counter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !self.ended else {
                return
            }
            self.ended = true
            self.counter.value.withLock { $0 += 1 }
            let channel = context.channel
            switch self.ending {
            case .reset:
                // SO_LINGER with a zero timeout makes close() send a RST instead of a FIN (socket(7)).
                guard let options = channel as? any SocketOptionProvider else {
                    channel.close(promise: nil)
                    return
                }
                options.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            case .close:
                channel.close(promise: nil)
            }
        }
    }
}
