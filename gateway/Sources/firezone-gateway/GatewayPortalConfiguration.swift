import Connlib
import FirezoneCrypto
import FirezoneOptions
import PhoenixChannel
import PhoenixCore
import PortalMessages

/// The gateway's portal connection: `/gateway/websocket` with its ID, name and public key (Firezone 685acdac3a's
/// rust/gateway/src/main.rs), a `null` join payload.
enum GatewayPortalConfiguration {
    /// The version the User-Agent carries: a gateway release of Firezone 685acdac3a's line, 1.4 or later, so that the portal sends
    /// `authorize_flow` and not the events of gateways up to 1.3.
    static let version = "1.4.15"

    static func make(
        _ options: PortalOptions,
        id: String,
        name: String,
        publicKey: PublicKey
    ) throws(OptionError) -> PhoenixChannel<GatewayTopic>.Configuration {
        try .device(
            apiURL: options.apiURL,
            apiURLKey: PortalOptions.Keys.standard.apiURL,
            token: options.token.exposedValue,
            parameters: .gateway(id: id, name: name, publicKey: publicKey.base64),
            partitionTime: options.maxPartitionTime,
            component: "gateway",
            version: Self.version
        )
    }
}
