/// Why the client could not start or had to stop: a message that names what is wrong and what to do, and the exit
/// status that tells each cause apart (``FirezoneHeadlessClient``'s help lists them).
struct HeadlessClientFailure: Error, CustomStringConvertible {
    enum Kind: Int32, CaseIterable {
        /// Anything else that stops the client from starting (sockets, netlink, the ID file, the event loop).
        case startFailed = 1
        /// Usage errors keep ``FirezoneOptions/OptionError/exitCode`` (2), as clap exits in Firezone's binaries.
        case missingCapability = 3
        case deviceTaken = 4
        case portalUnreachable = 5
        case portalRejected = 6
    }

    var kind: Kind
    var description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    static let exitCodesHelp = """
        EXIT STATUS
          0  stopped by SIGTERM or SIGINT, after saying goodbye to every gateway and restoring routes and DNS
          1  cannot start: the UDP sockets, netlink, the ID file or the event loop failed
          2  usage error: an option or variable is invalid, or no token (FIREZONE_TOKEN or the token file, which
             only its owner may read)
          3  no CAP_NET_ADMIN: run as root, or `sudo setcap cap_net_admin+eip firezone-headless-client`
          4  the TUN device tun-firezone or the tunnel's port is taken: is another client running?
          5  the portal stayed unreachable for MAX_PARTITION_TIME, or TLS with it failed (FIREZONE_API_URL)
          6  the portal rejected the token (invalid, expired, deleted): sign in again for a new one
        """
}
