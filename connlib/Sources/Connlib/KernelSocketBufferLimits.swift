import Glibc

/// `net.core.rmem_max` and `net.core.wmem_max`: the most SO_RCVBUF and SO_SNDBUF may ask for without
/// CAP_NET_ADMIN. Raised at start so that the tunnel's sockets, and anything else on the host that asks, get the
/// buffers they want (Firezone #10349, rust/gateway/src/main.rs). A limit already higher is left as it is.
public struct KernelSocketBufferLimits: Sendable {
    public static let receiveLimitPath = "/proc/sys/net/core/rmem_max"
    public static let sendLimitPath = "/proc/sys/net/core/wmem_max"

    public var receiveLimitPath: String
    public var sendLimitPath: String

    public init(receiveLimitPath: String = Self.receiveLimitPath, sendLimitPath: String = Self.sendLimitPath) {
        self.receiveLimitPath = receiveLimitPath
        self.sendLimitPath = sendLimitPath
    }

    /// Why a limit could not be read or raised: the file and errno (no CAP_SYS_ADMIN, a read-only /proc in a
    /// container). Not fatal: the sockets then get what the limits allow.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var path: String
        public var errno: Int32

        public var description: String {
            "cannot raise \(self.path): \(String(cString: strerror(self.errno)))"
        }
    }

    /// Raises each limit below its size to that size. Returns the failures; an empty array when both limits fit.
    public func raise(toFit buffers: UDPSocketBuffers) -> [Failure] {
        var failures: [Failure] = []
        for (path, size) in [(self.receiveLimitPath, buffers.receiveSize), (self.sendLimitPath, buffers.sendSize)] {
            do throws(Failure) {
                if try Self.read(path) < size {
                    try Self.write(size, to: path)
                }
            } catch {
                failures.append(error)
            }
        }
        return failures
    }

    /// The decimal value in `path`.
    public static func read(_ path: String) throws(Failure) -> Int {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw Failure(path: path, errno: errno)
        }
        defer { _ = Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            throw Failure(path: path, errno: count < 0 ? errno : EINVAL)
        }
        let text = String(decoding: bytes[..<count], as: UTF8.self).filter { !$0.isWhitespace }
        guard let value = Int(text) else {
            throw Failure(path: path, errno: EINVAL)
        }
        return value
    }

    private static func write(_ value: Int, to path: String) throws(Failure) {
        let fd = Glibc.open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else {
            throw Failure(path: path, errno: errno)
        }
        defer { _ = Glibc.close(fd) }
        var bytes = Array("\(value)\n".utf8)
        let written = Glibc.write(fd, &bytes, bytes.count)
        guard written == bytes.count else {
            throw Failure(path: path, errno: written < 0 ? errno : EIO)
        }
    }
}
