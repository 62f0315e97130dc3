import Connlib
import FirezoneOptions
import PhoenixChannel
import PhoenixCore
import PortalMessages
import Testing

struct DeviceConfigurationTests {
    private static let apiURLKey = OptionKey("portal URL", flag: "--api-url", variable: "FIREZONE_API_URL")

    private func configuration(apiURL: String) throws(OptionError) -> PhoenixChannel<GatewayTopic>.Configuration {
        try .device(
            apiURL: apiURL,
            apiURLKey: Self.apiURLKey,
            token: "secret-token",
            parameters: .gateway(id: "id", name: "name", publicKey: "key"),
            partitionTime: .seconds(5),
            component: "gateway",
            version: "1.4.15"
        )
    }

    @Test func anAPIURLWithoutSchemeIsAnOptionErrorNamingItsFlagAndVariable() {
        #expect {
            _ = try self.configuration(apiURL: "portal.example.com")
        } throws: { error in
            let description = (error as? OptionError)?.description ?? ""
            return description.contains("--api-url") && description.contains("FIREZONE_API_URL")
        }
    }

    @Test func theSocketPathIsTheTopicsAndTheUserAgentNamesTheComponentAndVersion() throws {
        let configuration = try self.configuration(apiURL: "wss://portal.example.com")
        #expect(configuration.url.requestTarget.hasPrefix("/\(GatewayTopic.name)/websocket"))
        #expect(configuration.userAgent.contains("gateway/1.4.15"))
        #expect(configuration.partitionTime == .seconds(5))
    }
}
