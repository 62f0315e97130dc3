import FirezoneCommand
import FirezoneOptions
import Testing

@Suite struct PortalFlagsTests {
    @Test func eachPortalFlagReachesItsOwnOption() throws {
        let parsed = try PortalFlags.parse([
            "--token", "a-token", "--token-file", "/run/token", "--api-url", "ws://portal:8081", "--name", "edge-1",
            "--max-partition-time", "15m",
        ])
        let expected = PortalOptions.Flags(
            token: "a-token",
            tokenFile: "/run/token",
            apiURL: "ws://portal:8081",
            name: "edge-1",
            maxPartitionTime: "15m"
        )
        #expect(parsed.flags == expected)
        #expect(try PortalFlags.parse([]).flags == PortalOptions.Flags())
    }
}
