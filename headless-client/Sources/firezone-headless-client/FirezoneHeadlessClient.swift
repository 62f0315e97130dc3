import ArgumentParser
import Connlib
import FirezoneCommand
import HeadlessClient
import PortalMessages

/// `firezone-headless-client`: Firezone's client for Linux servers and desktops without a GUI. `run` (the default)
/// connects to the portal and tunnels the resources it allows; `status` prints what the running client reports.
@main
struct FirezoneHeadlessClient: ExecutableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firezone-headless-client",
        abstract: "Firezone's headless client: reach the resources your policies allow, from a Linux host.",
        discussion: """
            Needs CAP_NET_ADMIN (root, or `sudo setcap cap_net_admin+eip firezone-headless-client`). Creates the \
            TUN device tun-firezone, routes the resources into it through policy rules (tables 0x2021fd00 to \
            0x2021fd02; the client's own sockets carry fwmark 0xfd002021 and bypass them) and points the \
            system's resolver at its DNS stub. Everything is restored at exit. SIGHUP, or a network change, \
            resets every connection (roaming); SIGTERM or SIGINT says goodbye to every gateway and exits 0.

            The token is never a flag (flags are visible to every local user): set FIREZONE_TOKEN, or put it in \
            the token file, which only its owner may read or write (chmod 600).

            ENVIRONMENT (most are also flags of `run`: see `run --help`)
              FIREZONE_TOKEN                  the client's token from the portal
              FIREZONE_TOKEN_PATH             token file (/etc/dev.firezone.client/token)
              FIREZONE_ID                     the device's ID (else generated, kept)
              FIREZONE_ID_PATH                where a generated ID is kept
              FIREZONE_NAME                   shown in the portal (the host name)
              FIREZONE_API_URL                the portal (wss://api.firezone.dev)
              FIREZONE_DNS_CONTROL            systemd-resolved, etc-resolv-conf or disabled
              FIREZONE_ACTIVATE_INTERNET_RESOURCE
                                              false keeps the Internet resource off (true)
              MAX_PARTITION_TIME              time the portal may be unreachable (forever)
              FIREZONE_STATUS_PATH            status file (/run/firezone/status.json)
              FIREZONE_INC_BUF=true           raise net.core.rmem_max and wmem_max
              FIREZONE_UDP_SEND_BUFFER_SIZE   bytes (2 MiB)
              FIREZONE_UDP_RECV_BUFFER_SIZE   bytes (16 MiB)
              LOG_DIR                         also log to a file in this directory
              RUST_LOG                        log filter: info, firezone_tunnel=debug, ...

            \(HeadlessClientExitStatus.help)
            """,
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self
    )

    static var startFailureStatus: Int32 {
        HeadlessClientExitStatus.startFailed.rawValue
    }

    static func exitFailure(for error: any Error) -> (any ExitStatusError)? {
        switch error {
        case let failed as PortalBridge<ClientTopic>.PortalFailed:
            failed.exitFailure(
                unreachable: HeadlessClientExitStatus.portalUnreachable,
                rejected: .portalRejected,
                rejectedHint: "sign in again for a new token and set FIREZONE_TOKEN or the token file"
            )
        case let status as StatusFile.Failure:
            HeadlessClientFailure(.startFailed, "\(status)")
        default:
            nil
        }
    }
}
