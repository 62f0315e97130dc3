import Connlib
import FirezoneTesting
import FirezoneTime
import Foundation
import Glibc
import Testing

struct NetworkChangeMonitorTests {
    @Test func aBurstOfChangesBecomesOneSignalHalfASecondAfterTheLast() throws {
        let monitor = try NetworkChangeMonitor()
        let start = Instant.zero + .seconds(10)

        monitor.noteChange(now: start)
        monitor.noteChange(now: start + .milliseconds(300))

        #expect(monitor.nextDeadline() == start + .milliseconds(800))
        #expect(!monitor.handleTimeout(now: start + .milliseconds(799)))
        #expect(monitor.handleTimeout(now: start + .milliseconds(800)))
        #expect(!monitor.handleTimeout(now: start + .milliseconds(900)))
        #expect(monitor.nextDeadline() == nil)
    }

    @Test(.enabled(if: PrivilegedTests.enabled, "needs root: network namespaces"))
    func anAddedAddressIsAChangeAndTheTunDevicesOwnChangesAreNot() throws {
        let now = Instant.zero + .seconds(1)
        let (stats, deadline, signalled) = try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            let lan = try NetworkNamespace.openTUN("lan0")
            defer { close(lan) }
            let monitor = try NetworkChangeMonitor()

            try NetworkNamespace.ip("address", "add", "100.64.0.7/32", "dev", TunnelRouting.interfaceName)
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")

            // Until the lan0 change is read; the tun-firezone one comes first, on the same socket.
            let deadline = ContinuousClock.now + .seconds(5)
            while monitor.stats.changes == 0 && ContinuousClock.now < deadline {
                var descriptor = pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, 1000)
                try monitor.handleReadable(now: now)
            }
            return (
                monitor.stats, monitor.nextDeadline(), monitor.handleTimeout(now: now + NetworkChangeMonitor.debounce)
            )
        }
        #expect(stats.changes >= 1)
        #expect(stats.ignored >= 1)
        #expect(deadline == now + NetworkChangeMonitor.debounce)
        #expect(signalled)
    }

    /// Applying the client's configuration (addresses, routes, rules, mirrored link-scope routes) while a host
    /// interface that just came up finishes duplicate address detection of its fe80:: address is no change. A
    /// marker change (one link notification) after detection ended is read last on the same socket, so it must be
    /// the only change counted.
    @Test(.enabled(if: PrivilegedTests.enabled, "needs root: network namespaces"))
    func applyingTheTunConfigurationAsALinkLocalAddressSettlesIsNoChange() throws {
        let now = Instant.zero + .seconds(1)
        let (stats, settled) = try NetworkNamespace.run {
            let tun = try NetworkNamespace.openTUN(TunnelRouting.interfaceName)
            defer { close(tun) }
            // A veth pair performs duplicate address detection (a TUN device, without ARP, skips it).
            try NetworkNamespace.ip("link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
            try NetworkNamespace.ip("address", "add", "192.168.77.10/24", "dev", "lan0")
            // The test namespace turns detection off by default; /proc/sys resolves against this thread's namespace.
            try "1".write(toFile: "/proc/sys/net/ipv6/conf/lan0/accept_dad", atomically: false, encoding: .utf8)
            try NetworkNamespace.ip("link", "set", "lan1", "up")
            try NetworkNamespace.ip("link", "set", "lan0", "up")
            // The kernel reports the carrier later (linkwatch); that is a real change, before the monitor starts.
            let carrierDeadline = ContinuousClock.now + .seconds(5)
            while try !NetworkNamespace.ip("link", "show", "lan0").contains("state UP")
                && ContinuousClock.now < carrierDeadline
            {
                _ = poll(nil, 0, 10)
            }
            let monitor = try NetworkChangeMonitor()

            let manager = try TunDeviceManager(logger: TunDeviceManagerTests.logger)
            try manager.apply(TunDeviceManagerTests.config(routes: ["10.1.0.0/16", "fd10::/64", "0.0.0.0/0", "::/0"]))
            // RFC 4862 §5.4: detection takes about a second; then the address is announced again.
            var settled = false
            let detectionDeadline = ContinuousClock.now + .seconds(10)
            while !settled && ContinuousClock.now < detectionDeadline {
                var descriptor = pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, 100)
                try monitor.handleReadable(now: now)
                let shown = try NetworkNamespace.ip("-6", "address", "show", "dev", "lan0", "scope", "link")
                settled = shown.contains("fe80:") && !shown.contains("tentative")
            }
            try NetworkNamespace.ip("link", "set", "lan1", "alias", "marker")

            let deadline = ContinuousClock.now + .seconds(5)
            while monitor.stats.changes == 0 && ContinuousClock.now < deadline {
                var descriptor = pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, 1000)
                try monitor.handleReadable(now: now)
            }
            try monitor.handleReadable(now: now)
            return (monitor.stats, settled)
        }
        #expect(settled)
        #expect(stats.ignored >= 1)
        #expect(stats.changes == 1)
        #expect(stats.overruns == 0)
    }
}
