import Connlib
import FirezoneCrypto
import FirezoneOptions
import HeadlessClient
import PhoenixChannel
import PhoenixCore
import PortalMessages

/// The client's portal connection: `/client/websocket` with its ID, name and public key (Firezone 685acdac3a's
/// rust/headless-client/src/main.rs), a `null` join payload, and the component `headless-client` in the User-Agent
/// (Firezone #10457).
enum ClientPortalConfiguration {
    /// A headless client release of Firezone 685acdac3a's time, so that the portal speaks the `create_flow` events
    /// to it.
    static let version = "1.5.3"

    static func make(
        _ options: HeadlessClientOptions,
        id: String,
        name: String,
        publicKey: PublicKey
    ) throws(OptionError) -> PhoenixChannel<ClientTopic>.Configuration {
        try .device(
            apiURL: options.apiURL,
            apiURLKey: HeadlessClientOptions.portalKeys.apiURL,
            token: options.token.exposedValue,
            parameters: .client(id: id, name: name, publicKey: publicKey.base64),
            partitionTime: options.maxPartitionTime,
            component: "headless-client",
            version: Self.version
        )
    }
}
