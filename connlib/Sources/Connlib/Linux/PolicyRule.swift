import IPPacket

/// A routing policy rule (ip-rule(8)): packets of one address family that match go to `table` at `priority`.
public struct PolicyRule: Hashable, Sendable, CustomStringConvertible {
    public var version: IPVersion
    public var priority: UInt32
    public var table: UInt32
    /// When set, the rule matches only packets whose firewall mark is *not* this value (`not fwmark`,
    /// FRA_FWMARK with FIB_RULE_INVERT).
    public var notFirewallMark: UInt32?

    public init(version: IPVersion, priority: UInt32, table: UInt32, notFirewallMark: UInt32? = nil) {
        self.version = version
        self.priority = priority
        self.table = table
        self.notFirewallMark = notFirewallMark
    }

    public var description: String {
        let mark = self.notFirewallMark.map { " not fwmark \($0)" } ?? ""
        return "\(self.version) priority \(self.priority)\(mark) table \(self.table)"
    }
}
