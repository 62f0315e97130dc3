import CLinuxIO
import IPPacket

/// A route as connlib programs it: a destination network out of one interface, in one routing table.
public struct KernelRoute: Hashable, Sendable, CustomStringConvertible {
    public var destination: IPNetwork
    public var interfaceIndex: Int32
    public var table: UInt32
    /// The route's scope (`RT_SCOPE_*`): link for IPv4 routes without a gateway, universe for IPv6 ones, as
    /// `ip route add <network> dev <name>` chooses.
    public var scope: UInt8

    public init(destination: IPNetwork, interfaceIndex: Int32, table: UInt32, scope: UInt8? = nil) {
        self.destination = destination
        self.interfaceIndex = interfaceIndex
        self.table = table
        self.scope = scope ?? (destination.version == .v4 ? KernelRoute.linkScope : KernelRoute.universeScope)
    }

    public static let linkScope = UInt8(RT_SCOPE_LINK.rawValue)
    public static let universeScope = UInt8(RT_SCOPE_UNIVERSE.rawValue)

    public var description: String {
        "\(self.destination) dev #\(self.interfaceIndex) table \(self.table)"
    }
}
