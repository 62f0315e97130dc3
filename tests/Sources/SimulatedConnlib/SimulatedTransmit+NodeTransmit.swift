import FirezoneTesting
import IPPacket
import Snownet

extension SimulatedTransmit {
    /// A state's datagram as its host sends it: without a chosen source it leaves from the one socket the process
    /// has bound, as connlib's shell sends it.
    init(_ transmit: NodeTransmit, socket: IPSocketAddress) {
        self.init(source: transmit.source ?? socket, destination: transmit.destination, payload: transmit.payload)
    }
}
