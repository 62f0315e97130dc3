import CLibBPF
import CRelayXDP
import Glibc
import IPPacket
import LinuxIO
import RelayCore
import STUN

extension XDPProgram {
    /// Mirrors a channel binding into both directions' maps, as Firezone's relay does in
    /// rust/relay/server/src/ebpf/linux.rs: the client's channel to the peer, and the peer's datagrams on the
    /// allocation port back to the client's channel. A rebinding of the same pair (a refresh) overwrites the same
    /// entries.
    public func insertBinding(
        client: ClientSocket,
        channel: ChannelNumber,
        peer: PeerSocket,
        port: AllocationPort
    ) throws(SystemCallError) {
        let entry = BindingEntry(client: client, channel: channel, peer: peer, port: port)
        try entry.withKeys { (channelKey, peerKey) throws(SystemCallError) in
            let toUDP = self.channelToUDP[entry.clientFamily][entry.peerFamily]
            let toChannel = self.udpToChannel[entry.peerFamily][entry.clientFamily]
            guard bpf_map_update_elem(toChannel, peerKey.baseAddress, channelKey.baseAddress, UInt64(BPF_ANY)) == 0
            else {
                throw SystemCallError(operation: "insert a peer-to-channel binding", errno: errno)
            }
            guard bpf_map_update_elem(toUDP, channelKey.baseAddress, peerKey.baseAddress, UInt64(BPF_ANY)) == 0 else {
                let error = errno
                _ = bpf_map_delete_elem(toChannel, peerKey.baseAddress)
                throw SystemCallError(operation: "insert a channel-to-peer binding", errno: error)
            }
        }
    }

    /// Removes a channel binding from both directions' maps, attempting both even when one fails. Entries already
    /// gone are not an error.
    public func deleteBinding(
        client: ClientSocket,
        channel: ChannelNumber,
        peer: PeerSocket,
        port: AllocationPort
    ) throws(SystemCallError) {
        let entry = BindingEntry(client: client, channel: channel, peer: peer, port: port)
        try entry.withKeys { (channelKey, peerKey) throws(SystemCallError) in
            let toUDP = self.channelToUDP[entry.clientFamily][entry.peerFamily]
            let toChannel = self.udpToChannel[entry.peerFamily][entry.clientFamily]
            // Both directions, whatever the first answers: a direction left behind would keep relaying.
            var failure: SystemCallError?
            if bpf_map_delete_elem(toUDP, channelKey.baseAddress) != 0, errno != ENOENT {
                failure = SystemCallError(operation: "delete a channel-to-peer binding", errno: errno)
            }
            if bpf_map_delete_elem(toChannel, peerKey.baseAddress) != 0, errno != ENOENT {
                failure = failure ?? SystemCallError(operation: "delete a peer-to-channel binding", errno: errno)
            }
            if let failure {
                throw failure
            }
        }
    }
}

/// One binding's two keys in the layouts of `relay_xdp.h`: (client, channel) and (peer, allocation port).
private struct BindingEntry {
    let client: ClientSocket
    let channel: ChannelNumber
    let peer: PeerSocket
    let port: AllocationPort

    var clientFamily: Int { self.client.address.address.version == .v4 ? 0 : 1 }
    var peerFamily: Int { self.peer.address.address.version == .v4 ? 0 : 1 }

    func withKeys<R>(
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(SystemCallError) -> R
    ) throws(SystemCallError) -> R {
        let client = self.client.address
        let peer = self.peer.address
        switch (client.address.version, peer.address.version) {
        case (.v4, .v4):
            return try Self.with(
                XDPKeyLayout.make(relay_xdp_client_and_channel_v4(), client.address, client.port, self.channel.value),
                XDPKeyLayout.make(relay_xdp_port_and_peer_v4(), peer.address, self.port.value, peer.port),
                body
            )
        case (.v4, .v6):
            return try Self.with(
                XDPKeyLayout.make(relay_xdp_client_and_channel_v4(), client.address, client.port, self.channel.value),
                XDPKeyLayout.make(relay_xdp_port_and_peer_v6(), peer.address, self.port.value, peer.port),
                body
            )
        case (.v6, .v4):
            return try Self.with(
                XDPKeyLayout.make(relay_xdp_client_and_channel_v6(), client.address, client.port, self.channel.value),
                XDPKeyLayout.make(relay_xdp_port_and_peer_v4(), peer.address, self.port.value, peer.port),
                body
            )
        case (.v6, .v6):
            return try Self.with(
                XDPKeyLayout.make(relay_xdp_client_and_channel_v6(), client.address, client.port, self.channel.value),
                XDPKeyLayout.make(relay_xdp_port_and_peer_v6(), peer.address, self.port.value, peer.port),
                body
            )
        }
    }

    private static func with<C, P, R>(
        _ channelKey: C,
        _ peerKey: P,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(SystemCallError) -> R
    ) throws(SystemCallError) -> R {
        var channelKey = channelKey
        var peerKey = peerKey
        let channelBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: MemoryLayout<C>.size, alignment: 8)
        let peerBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: MemoryLayout<P>.size, alignment: 8)
        defer {
            channelBytes.deallocate()
            peerBytes.deallocate()
        }
        withUnsafeBytes(of: &channelKey) { channelBytes.copyMemory(from: $0) }
        withUnsafeBytes(of: &peerKey) { peerBytes.copyMemory(from: $0) }
        return try body(UnsafeRawBufferPointer(channelBytes), UnsafeRawBufferPointer(peerBytes))
    }
}
