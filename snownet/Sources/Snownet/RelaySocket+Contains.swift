import IPPacket
import TURNClient

extension RelaySocket {
    /// Whether `address` is one of the server's addresses, without building ``RelaySocket/addresses`` (an array per
    /// call): the node asks for every datagram from port 3478.
    func contains(_ address: IPSocketAddress) -> Bool {
        switch self {
        case .v4(let server), .v6(let server): server == address
        case .dual(let v4, let v6): v4 == address || v6 == address
        }
    }
}
