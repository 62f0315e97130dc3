import FirezoneCommand

/// Why the gateway could not start or had to stop, with the exit status of its cause.
typealias GatewayFailure = ExitFailure<GatewayExitStatus>

/// The gateway's exit statuses, one per cause; ``help`` lists them in the help text.
enum GatewayExitStatus: Int32, CaseIterable {
    /// Anything else that stops the gateway from starting (sockets, TUN device, configuration files).
    case startFailed = 1
    /// Usage errors keep ``FirezoneOptions/OptionError/exitCode`` (2), as clap exits in Firezone's binaries.
    case missingCapability = 3
    case healthAddressTaken = 4
    case portalUnreachable = 5
    case portalRejected = 6

    static let help = """
        EXIT STATUS
          0  stopped by SIGTERM or SIGINT, after saying goodbye to every client
          1  cannot start: the UDP sockets, the TUN device, the ID file or the event loop failed
          2  usage error: an option or environment variable is missing or invalid
          3  no CAP_NET_ADMIN: run as root, or `sudo setcap cap_net_admin+eip firezone-gateway`
          4  the health check address is taken or cannot be bound (FIREZONE_HEALTH_CHECK_ADDR)
          5  the portal stayed unreachable for FIREZONE_MAX_PARTITION_TIME, or TLS with it failed
          6  the portal rejected the token (invalid, expired, deleted) or the gateway's join
        """
}
