import Glibc

/// Whether the process holds CAP_NET_ADMIN, which the TUN device, its addresses and routes, SO_MARK and the
/// firewall rules need (capabilities(7): bit 12 of the effective set, `CapEff` in /proc/self/status).
enum NetworkAdminCapability {
    static let bit: UInt64 = 1 << 12

    /// nil when /proc cannot be read (then the first privileged call reports the error itself).
    static func isEffective(status: String? = Self.readStatus()) -> Bool? {
        guard let status else {
            return nil
        }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = String(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace })
            guard let mask = UInt64(hex, radix: 16) else {
                return nil
            }
            return mask & Self.bit != 0
        }
        return nil
    }

    private static func readStatus() -> String? {
        let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            return nil
        }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}
