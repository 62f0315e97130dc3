import FirezoneCommand

/// Why the client could not start or had to stop, with the exit status of its cause.
typealias HeadlessClientFailure = ExitFailure<HeadlessClientExitStatus>

/// The client's exit statuses, one per cause; ``help`` lists them in the help text.
enum HeadlessClientExitStatus: Int32, CaseIterable {
    /// Anything else that stops the client from starting (sockets, netlink, the ID file, the event loop).
    case startFailed = 1
    /// Usage errors keep ``FirezoneOptions/OptionError/exitCode`` (2), as clap exits in Firezone's binaries.
    case missingCapability = 3
    case deviceTaken = 4
    case portalUnreachable = 5
    case portalRejected = 6

    static let help = """
        EXIT STATUS
          0  stopped by SIGTERM or SIGINT: goodbyes sent, routes and DNS restored
          1  cannot start: UDP sockets, netlink, the ID file or the event loop
          2  usage error: a bad option or variable, or no usable token
             (FIREZONE_TOKEN, or a token file only its owner may read)
          3  no CAP_NET_ADMIN: run as root, or
             `sudo setcap cap_net_admin+eip firezone-headless-client`
          4  tun-firezone or the tunnel's port is taken: another client running?
          5  the portal stayed unreachable for MAX_PARTITION_TIME, or TLS failed
          6  the portal rejected the token: sign in again for a new one
        """
}
