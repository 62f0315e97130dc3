import ArgumentParser
import Glibc
import PhoenixChannel
import PhoenixCore
import PortalMessages
import Relay

/// The portal connection's options: flags, then Firezone's environment variables, then defaults.
enum PortalOptions {
    static let defaultAPIURL = "wss://api.firezone.dev"

    /// nil without a token: the relay then runs standalone.
    static func resolve(_ run: Run, relay: RelayConfiguration) throws -> PhoenixChannel<RelayTopic>.Configuration? {
        func value(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            return getenv(variable).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let token = value(run.token, "FIREZONE_TOKEN") else {
            return nil
        }
        let apiURL = value(run.apiURL, "FIREZONE_API_URL") ?? Self.defaultAPIURL
        let partitionText = value(run.maxPartitionTime, "FIREZONE_MAX_PARTITION_TIME")
        let partitionTime = try partitionText.map { text in
            guard let duration = Self.parseDuration(text) else {
                throw ValidationError("invalid maximum partition time (--max-partition-time / FIREZONE_MAX_PARTITION_TIME): '\(text)'; use e.g. 900s, 15m or 1h")
            }
            return duration
        } ?? PhoenixConstants.defaultPartitionTime
        let url: PortalURL
        do {
            url = try PortalURL(
                apiURL: apiURL,
                topic: RelayTopic.name,
                token: token,
                parameters: .relay(
                    name: value(run.name, "FIREZONE_NAME"),
                    ipv4: relay.publicIPv4.map { "\($0)" },
                    ipv6: relay.publicIPv6.map { "\($0)" },
                    port: relay.listenPort
                )
            )
        } catch {
            throw ValidationError("invalid portal URL (--api-url / FIREZONE_API_URL): \(error)")
        }
        return .init(
            url: url,
            joinPayload: RelayJoin(stampSecret: relay.authSecret),
            partitionTime: partitionTime,
            userAgent: UserAgent.make(component: "relay", version: Self.version)
        )
    }

    /// The version the User-Agent carries: the seed era's relay release line, as the portal compares versions.
    static let version = "1.4.0"

    /// `900`, `900s`, `15m`, `1h`, `1d`.
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(Character, Int64)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var digits = Substring(text)
        var scale: Int64 = 1
        if let last = text.last, let unit = units.first(where: { $0.0 == last }) {
            digits = digits.dropLast()
            scale = unit.1
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), let amount = Int64(digits), amount > 0 else {
            return nil
        }
        let (seconds, overflow) = amount.multipliedReportingOverflow(by: scale)
        return overflow ? nil : .seconds(seconds)
    }
}
