import CLinuxIO
import Glibc
import IPPacket
import LinuxIO

/// The rtnetlink operations connlib's Linux integration needs (rtnetlink(7)), on one request socket: link
/// settings, addresses, routes in a given table and policy rules. Each failure is a ``SystemCallError`` naming
/// the operation and the errno of the kernel's NLMSG_ERROR.
///
/// Not thread-safe: one owner issues one request at a time.
public final class RouteNetlink {
    private let socket: NetlinkSocket
    private var message = NetlinkMessage()

    public init() throws(SystemCallError) {
        self.socket = try NetlinkSocket()
    }

    /// The index of the interface `name`.
    public func interfaceIndex(named name: String) throws(SystemCallError) -> Int32 {
        let index = if_nametoindex(name)
        guard index != 0 else {
            throw SystemCallError(operation: "find interface \(name)", errno: errno)
        }
        return Int32(index)
    }

    // MARK: Links

    /// Sets the link's MTU and transmit queue length and brings it up (`ip link set ... mtu ... txqueuelen ... up`).
    public func configureLink(index: Int32, mtu: UInt32, transmitQueueLength: UInt32) throws(SystemCallError) {
        let sequence = self.begin(type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        header.ifi_index = index
        header.ifi_flags = UInt32(IFF_UP)
        header.ifi_change = UInt32(IFF_UP)
        self.message.append(fixed: header)
        self.message.append(attribute: Int32(IFLA_MTU), mtu)
        self.message.append(attribute: Int32(IFLA_TXQLEN), transmitQueueLength)
        try self.socket.request(&self.message, sequence: sequence, operation: "set link #\(index) mtu, txqueuelen, up")
    }

    /// Turns off IPv6 link-local address generation (`ip link set ... addrgenmode none`, IFLA_INET6_ADDR_GEN_MODE):
    /// the tunnel has no use for an fe80:: address, and the kernel would otherwise add one each time the link
    /// comes up.
    public func disableIPv6LinkLocal(index: Int32) throws(SystemCallError) {
        let sequence = self.begin(type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        header.ifi_index = index
        self.message.append(fixed: header)
        let afSpec = self.message.beginNested(attribute: Int32(IFLA_AF_SPEC))
        let inet6 = self.message.beginNested(attribute: AF_INET6)
        self.message.append(attribute: Int32(IFLA_INET6_ADDR_GEN_MODE), UInt8(IN6_ADDR_GEN_MODE_NONE.rawValue))
        self.message.endNested(inet6)
        self.message.endNested(afSpec)
        try self.socket.request(&self.message, sequence: sequence, operation: "set link #\(index) addrgenmode none")
    }

    // MARK: Addresses

    /// The addresses of the link, each with its prefix length.
    public func addresses(index: Int32) throws(SystemCallError) -> [(address: IPAddress, prefixLength: UInt8)] {
        let sequence = self.begin(type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP)
        var header = ifaddrmsg()
        header.ifa_family = UInt8(AF_UNSPEC)
        self.message.append(fixed: header)
        var found: [(address: IPAddress, prefixLength: UInt8)] = []
        try self.socket.dump(&self.message, sequence: sequence, operation: "list addresses") { type, payload in
            guard type == Int32(RTM_NEWADDR), let fixed = Self.fixed(ifaddrmsg.self, payload),
                fixed.header.ifa_index == UInt32(index)
            else { return }
            let attributes = NetlinkAttributes(bytes: fixed.rest)
            // IFA_LOCAL is the interface's own address on point-to-point links, where IFA_ADDRESS is the peer's.
            guard let address = (attributes.first(Int32(IFA_LOCAL)) ?? attributes.first(Int32(IFA_ADDRESS)))?.address
            else { return }
            found.append((address, fixed.header.ifa_prefixlen))
        }
        return found
    }

    /// Adds an address; IPv6 ones skip duplicate address detection (IFA_F_NODAD), so they are usable at once.
    public func addAddress(_ address: IPAddress, prefixLength: UInt8, index: Int32) throws(SystemCallError) {
        let operation = "add address \(address)/\(prefixLength) to #\(index)"
        try self.changeAddress(RTM_NEWADDR, address, prefixLength: prefixLength, index: index, operation: operation)
    }

    public func deleteAddress(_ address: IPAddress, prefixLength: UInt8, index: Int32) throws(SystemCallError) {
        let operation = "delete address \(address)/\(prefixLength) of #\(index)"
        try self.changeAddress(RTM_DELADDR, address, prefixLength: prefixLength, index: index, operation: operation)
    }

    private func changeAddress(
        _ type: Int,
        _ address: IPAddress,
        prefixLength: UInt8,
        index: Int32,
        operation: String
    )
        throws(SystemCallError)
    {
        let create = type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_REPLACE : 0
        let sequence = self.begin(type: type, flags: NLM_F_REQUEST | NLM_F_ACK | create)
        var header = ifaddrmsg()
        header.ifa_family = Self.family(address.version)
        header.ifa_prefixlen = prefixLength
        header.ifa_index = UInt32(index)
        if address.version == .v6 {
            header.ifa_flags = UInt8(IFA_F_NODAD)
        }
        self.message.append(fixed: header)
        self.message.append(attribute: Int32(IFA_LOCAL), address: address)
        self.message.append(attribute: Int32(IFA_ADDRESS), address: address)
        try self.socket.request(&self.message, sequence: sequence, operation: operation)
    }

    // MARK: Routes

    /// Adds the route, or replaces one to the same destination in the same table.
    public func addRoute(_ route: KernelRoute) throws(SystemCallError) {
        try self.changeRoute(RTM_NEWROUTE, route, flags: NLM_F_CREATE | NLM_F_REPLACE, operation: "add route \(route)")
    }

    public func deleteRoute(_ route: KernelRoute) throws(SystemCallError) {
        try self.changeRoute(RTM_DELROUTE, route, flags: 0, operation: "delete route \(route)")
    }

    private func changeRoute(
        _ type: Int,
        _ route: KernelRoute,
        flags: Int32,
        operation: String
    )
        throws(SystemCallError)
    {
        let sequence = self.begin(type: type, flags: NLM_F_REQUEST | NLM_F_ACK | flags)
        var header = rtmsg()
        header.rtm_family = Self.family(route.destination.version)
        header.rtm_dst_len = route.destination.prefixLength
        // Tables above 255 travel in RTA_TABLE; the header's field then says RT_TABLE_UNSPEC.
        header.rtm_table = UInt8(RT_TABLE_UNSPEC.rawValue)
        header.rtm_protocol = UInt8(RTPROT_STATIC)
        header.rtm_scope = route.scope
        header.rtm_type = UInt8(RTN_UNICAST)
        self.message.append(fixed: header)
        self.message.append(attribute: Int32(RTA_TABLE.rawValue), route.table)
        self.message.append(attribute: Int32(RTA_DST.rawValue), address: route.destination.address)
        self.message.append(attribute: Int32(RTA_OIF.rawValue), UInt32(bitPattern: route.interfaceIndex))
        try self.socket.request(&self.message, sequence: sequence, operation: operation)
    }

    /// The unicast routes of one address family, each with whether it goes through a gateway.
    public func routes(_ version: IPVersion) throws(SystemCallError) -> [(route: KernelRoute, viaGateway: Bool)] {
        let sequence = self.begin(type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP)
        var header = rtmsg()
        header.rtm_family = Self.family(version)
        self.message.append(fixed: header)
        var found: [(route: KernelRoute, viaGateway: Bool)] = []
        try self.socket.dump(&self.message, sequence: sequence, operation: "list \(version) routes") { type, payload in
            guard type == Int32(RTM_NEWROUTE), let fixed = Self.fixed(rtmsg.self, payload),
                fixed.header.rtm_type == UInt8(RTN_UNICAST)
            else { return }
            let attributes = NetlinkAttributes(bytes: fixed.rest)
            let table = attributes.first(Int32(RTA_TABLE.rawValue))?.uint32 ?? UInt32(fixed.header.rtm_table)
            let destination: IPAddress
            if let address = attributes.first(Int32(RTA_DST.rawValue))?.address {
                destination = address
            } else {
                destination = version == .v4 ? .v4(.any) : .v6(.unspecified)
            }
            guard let network = try? IPNetwork(address: destination, prefixLength: fixed.header.rtm_dst_len),
                let outInterface = attributes.first(Int32(RTA_OIF.rawValue))?.uint32
            else { return }
            let route = KernelRoute(
                destination: network,
                interfaceIndex: Int32(bitPattern: outInterface),
                table: table,
                scope: fixed.header.rtm_scope
            )
            found.append((route, attributes.first(Int32(RTA_GATEWAY.rawValue)) != nil))
        }
        return found
    }

    // MARK: Policy rules

    /// Adds the rule. `EEXIST` means an identical rule is there already (NLM_F_EXCL makes the kernel say so
    /// instead of adding a duplicate).
    public func addRule(_ rule: PolicyRule) throws(SystemCallError) {
        try self.changeRule(RTM_NEWRULE, rule, flags: NLM_F_CREATE | NLM_F_EXCL, operation: "add rule \(rule)")
    }

    public func deleteRule(_ rule: PolicyRule) throws(SystemCallError) {
        try self.changeRule(RTM_DELRULE, rule, flags: 0, operation: "delete rule \(rule)")
    }

    private func changeRule(_ type: Int, _ rule: PolicyRule, flags: Int32, operation: String) throws(SystemCallError) {
        let sequence = self.begin(type: type, flags: NLM_F_REQUEST | NLM_F_ACK | flags)
        var header = fib_rule_hdr()
        header.family = Self.family(rule.version)
        header.table = UInt8(RT_TABLE_UNSPEC.rawValue)
        header.action = UInt8(FR_ACT_TO_TBL)
        if rule.notFirewallMark != nil {
            header.flags = UInt32(FIB_RULE_INVERT)
        }
        self.message.append(fixed: header)
        self.message.append(attribute: Int32(FRA_PRIORITY), rule.priority)
        self.message.append(attribute: Int32(FRA_TABLE), rule.table)
        if let mark = rule.notFirewallMark {
            self.message.append(attribute: Int32(FRA_FWMARK), mark)
            self.message.append(attribute: Int32(FRA_FWMASK), UInt32.max)
        }
        try self.socket.request(&self.message, sequence: sequence, operation: operation)
    }

    /// The policy rules of one address family that send packets to a table.
    public func rules(_ version: IPVersion) throws(SystemCallError) -> [PolicyRule] {
        let sequence = self.begin(type: RTM_GETRULE, flags: NLM_F_REQUEST | NLM_F_DUMP)
        var header = fib_rule_hdr()
        header.family = Self.family(version)
        self.message.append(fixed: header)
        var found: [PolicyRule] = []
        try self.socket.dump(&self.message, sequence: sequence, operation: "list \(version) rules") { type, payload in
            guard type == Int32(RTM_NEWRULE), let fixed = Self.fixed(fib_rule_hdr.self, payload),
                fixed.header.action == UInt8(FR_ACT_TO_TBL)
            else { return }
            let attributes = NetlinkAttributes(bytes: fixed.rest)
            let inverted = fixed.header.flags & UInt32(FIB_RULE_INVERT) != 0
            let mark = attributes.first(Int32(FRA_FWMARK))?.uint32
            found.append(
                PolicyRule(
                    version: version,
                    priority: attributes.first(Int32(FRA_PRIORITY))?.uint32 ?? 0,
                    table: attributes.first(Int32(FRA_TABLE))?.uint32 ?? UInt32(fixed.header.table),
                    notFirewallMark: inverted ? mark : nil
                )
            )
        }
        return found
    }

    // MARK: Helpers

    private func begin(type: Int, flags: Int32) -> UInt32 {
        let sequence = self.socket.nextSequence()
        self.message.begin(type: Int32(type), flags: flags, sequence: sequence)
        return sequence
    }

    private static func family(_ version: IPVersion) -> UInt8 {
        switch version {
        case .v4: UInt8(AF_INET)
        case .v6: UInt8(AF_INET6)
        }
    }

    /// The family's fixed header at the start of `payload` and the attributes behind it (padded to 4 bytes).
    private static func fixed<Header>(
        _: Header.Type,
        _ payload: UnsafeRawBufferPointer
    )
        -> (header: Header, rest: UnsafeRawBufferPointer)?
    {
        let length = (MemoryLayout<Header>.size + NetlinkMessage.alignment - 1) & ~(NetlinkMessage.alignment - 1)
        guard payload.count >= length else { return nil }
        return (payload.loadUnaligned(as: Header.self), UnsafeRawBufferPointer(rebasing: payload[length...]))
    }
}
