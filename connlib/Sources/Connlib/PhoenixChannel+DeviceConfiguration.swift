import FirezoneOptions
import PhoenixChannel
import PhoenixCore
import PortalMessages

extension PhoenixChannel.Configuration where Topic.JoinPayload == EmptyPayload {
    /// A gateway's or a client's portal connection (Firezone 685acdac3a's rust/gateway/src/main.rs and
    /// rust/headless-client/src/main.rs): `/<topic>/websocket` with the device's login parameters, a `null` join
    /// payload, and `component/version` in the User-Agent. An API URL that does not parse is an ``OptionError``
    /// that names `apiURLKey`.
    public static func device(
        apiURL: String,
        apiURLKey: OptionKey,
        token: String,
        parameters: LoginParameters,
        partitionTime: Duration?,
        component: String,
        version: String
    ) throws(OptionError) -> Self {
        let url: PortalURL
        do {
            url = try PortalURL(apiURL: apiURL, topic: Topic.name, token: token, parameters: parameters)
        } catch {
            throw OptionError("invalid \(apiURLKey.label) (\(apiURLKey)): \(error)")
        }
        return .init(
            url: url,
            joinPayload: EmptyPayload(),
            partitionTime: partitionTime,
            userAgent: UserAgent.make(component: component, version: version)
        )
    }
}
