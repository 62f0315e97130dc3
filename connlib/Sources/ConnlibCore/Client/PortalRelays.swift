import IPPacket
import PortalMessages
import Snownet
import TURNClient

/// The portal's relay list as snownet's TURN servers (connlib's `turn` conversion at the seed era).
public enum PortalRelays {
    /// The realm of Firezone's relays (rust/relay/server/src/auth.rs).
    public static let realm = "firezone"

    /// One server per relay ID, in the order the IDs first appear: the portal lists a relay once per address
    /// family, and both entries of one ID become one dual-stack socket. STUN-only entries are ignored, as connlib
    /// does.
    public static func turnServers(from entries: [RelayEntry]) -> [TURNServer<RelayID>] {
        var servers: [TURNServer<RelayID>] = []
        for entry in entries {
            guard case .turn(let relay) = entry else {
                continue
            }
            guard let index = servers.firstIndex(where: { $0.id == relay.id }) else {
                let socket: RelaySocket =
                    switch relay.address.address.version {
                    case .v4: .v4(relay.address)
                    case .v6: .v6(relay.address)
                    }
                servers.append(
                    TURNServer(
                        id: relay.id,
                        socket: socket,
                        username: relay.username,
                        password: relay.password,
                        realm: Self.realm
                    )
                )
                continue
            }
            switch (servers[index].socket, relay.address.address.version) {
            case (.v4(let v4), .v6):
                servers[index].socket = .dual(v4: v4, v6: relay.address)
            case (.v6(let v6), .v4):
                servers[index].socket = .dual(v4: relay.address, v6: v6)
            default:
                // A second entry of the same family: the first one stays.
                break
            }
        }
        return servers
    }
}
