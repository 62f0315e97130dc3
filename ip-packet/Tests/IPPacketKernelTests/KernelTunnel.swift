import CNetworkTestSupport
import Foundation
import IPPacket
import NIOCore
import Testing

/// A TUN device in a private network namespace, as the Linux kernel sees it: local addresses 10.77.0.1/24 and
/// fd77::1/64, with the test playing the peers behind the device (10.77.0.2, fd77::2).
///
/// Network namespaces belong to threads, so each test runs its body on a thread of its own that leaves the
/// process's namespace first. The namespace, the device and every socket opened inside vanish when the thread
/// ends and its descriptors are closed: nothing is left behind, whatever the outcome.
final class KernelTunnel {
    static let local4 = IPAddress("10.77.0.1")!
    static let peer4 = IPAddress("10.77.0.2")!
    static let local6 = IPAddress("fd77::1")!
    static let peer6 = IPAddress("fd77::2")!
    static let deviceName = "fztest0"

    let fd: Int32

    /// Runs `body` with a fresh tunnel on a dedicated thread and waits for it.
    static func run(_ body: @escaping @Sendable (KernelTunnel) throws -> Void) throws {
        let outcome = Outcome()
        let thread = Thread {
            do {
                let tunnel = try KernelTunnel()
                try body(tunnel)
            } catch {
                outcome.error = error
            }
            outcome.done.signal()
        }
        thread.start()
        outcome.done.wait()
        if let error = outcome.error {
            throw error
        }
    }

    private init() throws {
        try check(fz_test_unshare_network_namespace(), "unshare(CLONE_NEWNET)")
        self.fd = fz_test_open_tun(Self.deviceName)
        try check(self.fd, "open TUN device")
        try check(fz_test_add_ipv4_address(Self.deviceName, 0x0A4D_0001, 24), "add 10.77.0.1/24")
        var local6: [UInt8] = [0xFD, 0x77] + Array(repeating: 0, count: 13) + [1]
        try check(fz_test_add_ipv6_address(Self.deviceName, &local6, 64), "add fd77::1/64")
        try Self.waitUntilIPv6AddressIsUsable()
    }

    /// A new IPv6 address stays tentative (IFA_F_TENTATIVE, 0x40) until the kernel has done with it, and cannot be
    /// bound until then. `/proc/thread-self/net` shows this thread's namespace.
    private static func waitUntilIPv6AddressIsUsable() throws {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let table = (try? String(contentsOfFile: "/proc/thread-self/net/if_inet6", encoding: .utf8)) ?? ""
            let entry = table.split(separator: "\n").first { $0.hasPrefix("fd770000000000000000000000000001") }
            if let flags = entry?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first,
                let value = UInt8(flags, radix: 16), value & 0x40 == 0
            {
                return
            }
            usleep(20_000)
        }
        throw KernelError(operation: "wait for fd77::1 to leave the tentative state", code: ETIMEDOUT)
    }

    deinit {
        close(self.fd)
    }

    func write(_ packet: IPPacket) throws {
        let written = packet.buffer.withUnsafeReadableBytes { Glibc.write(self.fd, $0.baseAddress, $0.count) }
        guard written == packet.length else {
            throw KernelError(operation: "write to TUN", code: errno)
        }
    }

    /// The next packet the kernel sends that `matches`, skipping others (router solicitations, MLD reports).
    func read(within seconds: Double = 2, where matches: (IPPacket) -> Bool) throws -> IPPacket {
        let deadline = Date().addingTimeInterval(seconds)
        var bytes = [UInt8](repeating: 0, count: 2048)
        while Date() < deadline {
            let remaining = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            let length = fz_test_read_with_timeout(self.fd, &bytes, UInt(bytes.count), remaining)
            try check(Int32(clamping: min(length, 0)), "read from TUN")
            if length > 0, let packet = try? IPPacket(ByteBuffer(bytes: bytes[0..<length])), matches(packet) {
                return packet
            }
        }
        throw KernelError(operation: "wait for the kernel's answer", code: ETIMEDOUT)
    }

}

/// A socket bound in the tunnel's namespace (a UDP socket, or a listening TCP socket), closed when it goes out
/// of scope. Create it on the tunnel's thread.
final class BoundSocket {
    enum Kind {
        case udp
        case tcpListener
    }

    let fd: Int32

    init(_ kind: Kind, address: IPAddress, port: UInt16) throws {
        let type = Int32(kind == .udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
        switch address {
        case .v4(let ipv4):
            self.fd = socket(AF_INET, type, 0)
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = port.bigEndian
            storage.sin_addr.s_addr = ipv4.rawValue.bigEndian
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try check(result == 0 ? 0 : -errno, "bind \(address):\(port)")
        case .v6(let ipv6):
            self.fd = socket(AF_INET6, type, 0)
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage.sin6_addr) { raw in
                raw.storeBytes(of: ipv6.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: ipv6.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            try check(result == 0 ? 0 : -errno, "bind [\(address)]:\(port)")
        }
        if kind == .tcpListener {
            try check(listen(self.fd, 4) == 0 ? 0 : -errno, "listen")
        }
    }

    deinit {
        close(self.fd)
    }

    /// The next datagram's payload, or nil if none arrives within the timeout.
    func receive(timeoutMilliseconds: Int32 = 2000) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 2048)
        let length = fz_test_read_with_timeout(self.fd, &bytes, UInt(bytes.count), timeoutMilliseconds)
        try check(Int32(clamping: min(length, 0)), "receive")
        return length > 0 ? Array(bytes[0..<length]) : nil
    }
}

struct KernelError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32

    var description: String {
        "\(self.operation) failed: \(String(cString: strerror(self.code))) (errno \(self.code))"
    }
}

private func check(_ result: Int32, _ operation: String) throws {
    if result < 0 {
        throw KernelError(operation: operation, code: -result)
    }
}

/// What the tunnel's thread hands back. `@unchecked Sendable`: `error` is written by that thread before it
/// signals `done`, and read by the waiting thread only after `done`.
private final class Outcome: @unchecked Sendable {
    var error: (any Error)?
    let done = DispatchSemaphore(value: 0)
}
