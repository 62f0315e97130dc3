import Glibc
import LinuxIO

/// The MTU of a network interface, for ``XDPConfiguration/interfaceMTU``.
public enum InterfaceMTU {
    /// Reads the MTU of `interface` (SIOCGIFMTU).
    public static func of(_ interface: String) throws(SystemCallError) -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            throw SystemCallError(operation: "open a socket to read the MTU of \(interface)", errno: errno)
        }
        defer { _ = Glibc.close(descriptor) }
        var request = ifreq()
        let name = Array(interface.utf8.prefix(Int(IFNAMSIZ) - 1))
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { bytes in
            bytes.copyBytes(from: name)
        }
        guard ioctl(descriptor, UInt(SIOCGIFMTU), &request) == 0 else {
            throw SystemCallError(operation: "read the MTU of \(interface)", errno: errno)
        }
        return Int(request.ifr_ifru.ifru_mtu)
    }
}
