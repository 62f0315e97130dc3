import CLinuxIO
import FirezoneTime
import Glibc
import LinuxIO

/// Tells the client when the host's network changed, so that it resets its connections (roaming) and refreshes
/// the mirrored link-scope routes (rust/bin-shared/src/network_changes/linux.rs).
///
/// A netlink socket subscribed to link, address and route changes; its descriptor goes to the event loop
/// (``EventLoopDriver/register(readable:token:)``), which calls ``handleReadable(now:)``. A burst of
/// notifications (a Wi-Fi switch brings a dozen) becomes one signal 500 ms after the last of them
/// (rust/bin-shared/src/network_changes/linux.rs debounces the same way). Changes connlib makes itself are
/// ignored: anything about the TUN device and any route in connlib's tables, or every reset would cause the next.
/// So are IPv6 link-local addresses and their routes: the kernel announces an interface's fe80:: address when the
/// interface comes up and again when duplicate address detection ends about a second later (RFC 4862 §5.3, §5.4),
/// yet the tunnel never uses one (its candidates and routes are global or unique local), so that second
/// announcement would reset connections made in between for nothing.
public final class NetworkChangeMonitor {
    /// Quiet time after the last notification before the signal.
    public static let debounce = Duration.milliseconds(500)

    public struct Stats: Hashable, Sendable {
        /// Notifications that count as a change.
        public var changes = 0
        /// Notifications about connlib's own device or tables, or about IPv6 link-local addresses.
        public var ignored = 0
        /// Times the kernel dropped notifications for an overflowing queue (each counted as a change).
        public var overruns = 0
    }

    public let ignoredInterface: String
    public private(set) var stats = Stats()
    private let socket: NetlinkSocket
    private var deadline: Instant?

    public init(ignoring interfaceName: String = TunnelRouting.interfaceName) throws(SystemCallError) {
        self.ignoredInterface = interfaceName
        let groups = UInt32(
            RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
        )
        self.socket = try NetlinkSocket(groups: groups, nonBlocking: true)
    }

    /// The descriptor to register as readable with the event loop.
    public var fileDescriptor: Int32 { self.socket.fd }

    /// Reads every waiting notification.
    public func handleReadable(now: Instant) throws(SystemCallError) {
        let ignoredIndex = Int32(bitPattern: if_nametoindex(self.ignoredInterface))
        var changed = false
        let complete = try self.socket.drainNotifications { type, payload in
            if Self.isIgnored(type: type, payload: payload, ignoredIndex: ignoredIndex) {
                self.stats.ignored += 1
            } else {
                self.stats.changes += 1
                changed = true
            }
        }
        if !complete {
            self.stats.overruns += 1
            changed = true
        }
        if changed {
            self.noteChange(now: now)
        }
    }

    /// A change was seen: the signal comes ``debounce`` after the last one.
    package func noteChange(now: Instant) {
        self.deadline = now + Self.debounce
    }

    public func nextDeadline() -> Instant? {
        self.deadline
    }

    /// Whether the network changed: true once per burst, when its quiet time has passed.
    public func handleTimeout(now: Instant) -> Bool {
        guard let deadline = self.deadline, now >= deadline else { return false }
        self.deadline = nil
        return true
    }

    private static func isIgnored(type: Int32, payload: UnsafeRawBufferPointer, ignoredIndex: Int32) -> Bool {
        switch Int(type) {
        case RTM_NEWLINK, RTM_DELLINK:
            guard payload.count >= MemoryLayout<ifinfomsg>.size else { return false }
            return ignoredIndex != 0 && payload.loadUnaligned(as: ifinfomsg.self).ifi_index == ignoredIndex
        case RTM_NEWADDR, RTM_DELADDR:
            guard payload.count >= MemoryLayout<ifaddrmsg>.size else { return false }
            let header = payload.loadUnaligned(as: ifaddrmsg.self)
            // IPv6 gives link-local addresses, and only those, link scope (RFC 4291 §2.5.6).
            let isIPv6LinkLocal =
                Int32(header.ifa_family) == AF_INET6 && Int(header.ifa_scope) == Int(RT_SCOPE_LINK.rawValue)
            return isIPv6LinkLocal || (ignoredIndex != 0 && header.ifa_index == UInt32(ignoredIndex))
        case RTM_NEWROUTE, RTM_DELROUTE:
            guard payload.count >= MemoryLayout<rtmsg>.size else { return false }
            let attributes = NetlinkAttributes(
                bytes: UnsafeRawBufferPointer(rebasing: payload[MemoryLayout<rtmsg>.size...])
            )
            let header = payload.loadUnaligned(as: rtmsg.self)
            let table = attributes.first(Int32(RTA_TABLE.rawValue))?.uint32 ?? UInt32(header.rtm_table)
            let outInterface = attributes.first(Int32(RTA_OIF.rawValue))?.uint32.map { Int32(bitPattern: $0) }
            // The local route of a link-local address, and the fe80::/64 prefix route of an interface.
            let isIPv6LinkLocal =
                attributes.first(Int32(RTA_DST.rawValue))?.address.map { TunnelRouting.ipv6LinkLocal.contains($0) }
                ?? false
            return TunnelRouting.rules.contains { $0.table == table }
                || (ignoredIndex != 0 && outInterface == ignoredIndex) || isIPv6LinkLocal
        default:
            return false
        }
    }
}
