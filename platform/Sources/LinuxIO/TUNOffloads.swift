import CLinuxIO

/// The offloads of a TUN device opened with `fz_tun_open_offload`: what the kernel may hand over, and so what the
/// driver may hand back coalesced.
///
/// With TCP segmentation the kernel reads out TCP super-packets of up to 64 KiB, and takes them on write; with UDP
/// segmentation (Linux 6.2) the same for UDP. Firezone turns on all of them when the kernel accepts them
/// (rust/libs/connlib/tun/src/linux.rs, Firezone #14011); wireguard-go does the same and coalesces UDP on write only
/// when the kernel accepted USO (tun/tun_linux.go), because kernels without it also refuse UDP super-packets.
public struct TUNOffloads: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// TUN_F_CSUM: packets may come with their transport checksum left to us.
    public static let checksum = TUNOffloads(rawValue: FZ_TUN_OFFLOAD_CHECKSUM)
    /// TUN_F_TSO4 | TUN_F_TSO6.
    public static let tcpSegmentation = TUNOffloads(rawValue: FZ_TUN_OFFLOAD_TSO)
    /// TUN_F_USO4 | TUN_F_USO6 (the kernel takes them only together).
    public static let udpSegmentation = TUNOffloads(rawValue: FZ_TUN_OFFLOAD_USO)
    public static let all: TUNOffloads = [.checksum, .tcpSegmentation, .udpSegmentation]

    /// Turns on the most of `offered` the kernel accepts on the offload TUN device `fd`: all, then without UDP
    /// segmentation, then checksum offload alone, then none (a kernel that does not know a flag refuses the set).
    public static func negotiate(fd: Int32, offering offered: TUNOffloads = .all) throws(SystemCallError) -> TUNOffloads
    {
        var taken: UInt32 = 0
        let result = fz_tun_set_offloads(fd, offered.rawValue, &taken)
        guard result == 0 else {
            throw SystemCallError(operation: "TUNSETOFFLOAD", errno: -result)
        }
        return TUNOffloads(rawValue: taken)
    }

    /// `checksum, tso, uso`, or `none`.
    public var description: String {
        var names: [String] = []
        if self.contains(.checksum) {
            names.append("checksum")
        }
        if self.contains(.tcpSegmentation) {
            names.append("tso")
        }
        if self.contains(.udpSegmentation) {
            names.append("uso")
        }
        return names.isEmpty ? "none" : names.joined(separator: ", ")
    }
}
