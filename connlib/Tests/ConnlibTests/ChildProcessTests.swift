import CLinuxIO
import Connlib
import FirezoneTesting
import Testing

/// Runs real programs (`/bin/sh`, `cat`). Raising a capability into the ambient set needs the capability permitted,
/// which root has: these run as root (PrivilegedTests).
@Suite(.enabled(if: PrivilegedTests.enabled))
struct ChildProcessTests {
    /// The CapAmb mask of the process that printed its /proc/self/status.
    static func ambientMask(_ status: String) throws -> UInt64 {
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("CapAmb:") })
        let hex = line.dropFirst("CapAmb:".count).filter { !$0.isWhitespace }
        return try #require(UInt64(String(hex), radix: 16))
    }

    @Test func childInheritsNetworkAdministrationAsAmbientCapability() throws {
        let output = try ChildProcess.runChecked("cat", ["/proc/self/status"])
        let mask = try Self.ambientMask(output)
        #expect(mask & (1 << UInt64(ChildProcess.passedCapability)) != 0, "CapAmb of the child: \(mask)")
    }

    @Test func capabilityNotPermittedIsLeftAlone() {
        // 63 is past every capability the kernel defines (CAP_LAST_CAP is 40 in Linux 6.x): never permitted.
        #expect(fz_capability_make_ambient(63) == 0)
        #expect(fz_capability_is_ambient(63) <= 0)
    }

    /// `true` exits without reading its input; our write of the rest then meets a pipe without a reader, which must
    /// be EPIPE for us and not a SIGPIPE that ends the process (the tests' process included).
    @Test func aProgramThatLeavesItsInputUnreadEndsWithItsOwnStatus() throws {
        let input = String(repeating: "table inet firezone-gateway {}\n", count: 16_384)
        let result = try ChildProcess.run("true", [], input: input)
        #expect(result.status == 0)
    }
}
