import CLibBPF
import Glibc
import LinuxIO

/// What the program made of one frame under `BPF_PROG_TEST_RUN`.
package struct XDPTestRunResult: Sendable, Equatable {
    package var action: XDPAction
    /// The frame after the program, head adjustments included.
    package var frame: [UInt8]
}

extension XDPProgram {
    /// Runs the program once on `frame` in the kernel (`BPF_PROG_TEST_RUN`), with the maps as they are, and
    /// returns its verdict and the frame it left. Needs root.
    package func testRun(_ frame: [UInt8]) throws(SystemCallError) -> XDPTestRunResult {
        // A translation grows the headers by at most 24 bytes (IPv4 UDP to IPv6 channel data).
        var output = [UInt8](repeating: 0, count: frame.count + 64)
        var options = bpf_test_run_opts()
        options.sz = MemoryLayout<bpf_test_run_opts>.size
        options.repeat = 1
        let result: Int32 = frame.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { outputBytes in
                options.data_in = input.baseAddress
                options.data_size_in = UInt32(input.count)
                options.data_out = outputBytes.baseAddress
                options.data_size_out = UInt32(outputBytes.count)
                return bpf_prog_test_run_opts(self.programDescriptor, &options)
            }
        }
        guard result == 0 else {
            throw SystemCallError(operation: "run the XDP program on a test frame", errno: -result)
        }
        guard let action = XDPAction(rawValue: options.retval) else {
            throw SystemCallError(operation: "read the XDP program's verdict \(options.retval)", errno: EINVAL)
        }
        return XDPTestRunResult(action: action, frame: Array(output[0..<Int(options.data_size_out)]))
    }
}
