import FirezoneOptions
import PhoenixChannel
import PhoenixCore
import PortalMessages
import Relay

/// The relay's portal connection: its socket URL carries the relay's addresses, its join the credential secret.
enum RelayPortalConfiguration {
    /// The version the User-Agent carries: the seed era's relay release line, as the portal compares versions.
    static let version = "1.4.0"

    static func make(
        _ options: PortalOptions,
        relay: RelayConfiguration
    ) throws(OptionError) -> PhoenixChannel<RelayTopic>.Configuration {
        let url: PortalURL
        do {
            url = try PortalURL(
                apiURL: options.apiURL,
                topic: RelayTopic.name,
                token: options.token.exposedValue,
                parameters: .relay(
                    name: options.name,
                    ipv4: relay.publicIPv4.map { "\($0)" },
                    ipv6: relay.publicIPv6.map { "\($0)" },
                    port: relay.listenPort
                )
            )
        } catch {
            let key = PortalOptions.Keys.standard.apiURL
            throw OptionError("invalid \(key.label) (\(key)): \(error)")
        }
        return .init(
            url: url,
            joinPayload: RelayJoin(stampSecret: relay.authSecret),
            partitionTime: options.maxPartitionTime,
            userAgent: UserAgent.make(component: "relay", version: Self.version)
        )
    }
}
