import FirezoneHealth
import Glibc
import IPPacket
import NIOPosix
import Synchronization
import Testing

struct HealthServerTests {
    /// One HTTP/1.1 GET over a plain socket; returns the status line.
    private static func statusLine(port: Int, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(connected == 0)
        var request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        try #require(write(fd, &request, request.count) == request.count)
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else {
                break
            }
            response += chunk[..<count]
        }
        return String(decoding: response.prefix(while: { $0 != UInt8(ascii: "\r") }), as: UTF8.self)
    }

    @Test func readyzAnswers503UntilReadyThen200WhileHealthzIsAlways200() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let ready = Atomic(false)
        let server = try await HealthServer(
            address: IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0),
            group: group,
            isReady: { ready.load(ordering: .relaxed) },
            metrics: { "up 1\n" }
        )
        let port = try #require(server.port)
        #expect(try Self.statusLine(port: port, path: "/healthz") == "HTTP/1.1 200 OK")
        #expect(try Self.statusLine(port: port, path: "/readyz") == "HTTP/1.1 503 Service Unavailable")
        ready.store(true, ordering: .relaxed)
        #expect(try Self.statusLine(port: port, path: "/readyz") == "HTTP/1.1 200 OK")
        #expect(try Self.statusLine(port: port, path: "/metrics") == "HTTP/1.1 200 OK")
        try await server.close()
        try await group.shutdownGracefully()
    }
}
