import Connlib
import FirezoneOptions
import Testing

struct UDPSocketBuffersTests {
    private func buffers(_ environment: [String: String], role: UDPSocketBuffers.Role) throws -> UDPSocketBuffers {
        try UDPSocketBuffers(reader: OptionReader(environment: environment), role: role)
    }

    @Test func sizesDefaultToTwoMebibytesForSendingAndSixteenForReceiving() throws {
        let buffers = try self.buffers([:], role: .gateway)
        #expect(buffers.sendSize == 2 * 1024 * 1024)
        #expect(buffers.receiveSize == 16 * 1024 * 1024)
    }

    @Test func variablesOverrideTheSizes() throws {
        let buffers = try self.buffers(
            ["FIREZONE_UDP_SEND_BUFFER_SIZE": "65536", "FIREZONE_UDP_RECV_BUFFER_SIZE": "131072"],
            role: .client
        )
        #expect(buffers.sendSize == 65536)
        #expect(buffers.receiveSize == 131072)
    }

    @Test func aSizeThatIsNoPositiveNumberIsAUsageErrorNamingTheVariable() {
        #expect(throws: OptionError.self) {
            try self.buffers(["FIREZONE_UDP_RECV_BUFFER_SIZE": "16M"], role: .gateway)
        }
        do {
            _ = try self.buffers(["FIREZONE_UDP_SEND_BUFFER_SIZE": "0"], role: .gateway)
            Issue.record("0 was accepted")
        } catch {
            #expect("\(error)".contains("FIREZONE_UDP_SEND_BUFFER_SIZE"))
        }
    }

    @Test func theGatewayRaisesKernelLimitsUnlessNoIncBufIsTrue() throws {
        #expect(try self.buffers([:], role: .gateway).raisesKernelLimits)
        #expect(try self.buffers(["FIREZONE_NO_INC_BUF": "false"], role: .gateway).raisesKernelLimits)
        #expect(try !self.buffers(["FIREZONE_NO_INC_BUF": "true"], role: .gateway).raisesKernelLimits)
    }

    @Test func theClientRaisesKernelLimitsOnlyWhenIncBufIsTrue() throws {
        #expect(try !self.buffers([:], role: .client).raisesKernelLimits)
        #expect(try !self.buffers(["FIREZONE_NO_INC_BUF": "false"], role: .client).raisesKernelLimits)
        #expect(try self.buffers(["FIREZONE_INC_BUF": "true"], role: .client).raisesKernelLimits)
        #expect(throws: OptionError.self) {
            try self.buffers(["FIREZONE_INC_BUF": "maybe"], role: .client)
        }
    }
}
