import Connlib
import Glibc
import Testing

struct KernelSocketBufferLimitsTests {
    /// Two scratch files standing in for /proc/sys/net/core/{r,w}mem_max.
    private func scratch(receive: String, send: String) throws -> (KernelSocketBufferLimits, () -> Void) {
        var template = Array("/tmp/fz-bufmax-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        let receivePath = directory + "/rmem_max"
        let sendPath = directory + "/wmem_max"
        for (path, text) in [(receivePath, receive), (sendPath, send)] {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            try #require(fd >= 0)
            var bytes = Array(text.utf8)
            try #require(write(fd, &bytes, bytes.count) == bytes.count)
            close(fd)
        }
        let cleanup = {
            unlink(receivePath)
            unlink(sendPath)
            rmdir(directory)
        }
        return (KernelSocketBufferLimits(receiveLimitPath: receivePath, sendLimitPath: sendPath), cleanup)
    }

    @Test func aLimitBelowTheSizeIsRaisedToIt() throws {
        let (limits, cleanup) = try self.scratch(receive: "212992\n", send: "212992\n")
        defer { cleanup() }
        let buffers = UDPSocketBuffers(sendSize: 2 << 20, receiveSize: 16 << 20, raisesKernelLimits: true)
        #expect(limits.raise(toFit: buffers).isEmpty)
        #expect(try KernelSocketBufferLimits.read(limits.receiveLimitPath) == 16 << 20)
        #expect(try KernelSocketBufferLimits.read(limits.sendLimitPath) == 2 << 20)
    }

    @Test func aLimitAlreadyAboveTheSizeIsLeftAlone() throws {
        let (limits, cleanup) = try self.scratch(receive: "67108864\n", send: "1024\n")
        defer { cleanup() }
        let buffers = UDPSocketBuffers(sendSize: 2 << 20, receiveSize: 16 << 20, raisesKernelLimits: true)
        #expect(limits.raise(toFit: buffers).isEmpty)
        #expect(try KernelSocketBufferLimits.read(limits.receiveLimitPath) == 67_108_864)
        #expect(try KernelSocketBufferLimits.read(limits.sendLimitPath) == 2 << 20)
    }

    @Test func anUnreadableLimitIsReportedNotFatal() {
        let limits = KernelSocketBufferLimits(
            receiveLimitPath: "/nonexistent/rmem_max",
            sendLimitPath: "/nonexistent/w"
        )
        let failures = limits.raise(toFit: UDPSocketBuffers(sendSize: 1, receiveSize: 1, raisesKernelLimits: true))
        #expect(failures.map(\.path) == ["/nonexistent/rmem_max", "/nonexistent/w"])
    }
}
