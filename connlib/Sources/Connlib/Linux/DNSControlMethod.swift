/// How the headless client points the system's resolver at its DNS stub (`FIREZONE_DNS_CONTROL`,
/// rust/headless-client/src/main.rs).
public enum DNSControlMethod: String, Sendable, CaseIterable {
    /// `resolvectl` on the TUN device: the default on Linux.
    case systemdResolved = "systemd-resolved"
    /// `/etc/resolv.conf` replaced while the client runs, the original kept beside it.
    case etcResolvConf = "etc-resolv-conf"
    /// The system's DNS is left alone.
    case disabled
}
