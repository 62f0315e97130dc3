import Connlib
import FirezoneTesting
import FirezoneTime
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
}
