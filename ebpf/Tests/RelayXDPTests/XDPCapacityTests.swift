import CRelayXDP
import FirezoneTesting
import Glibc
import IPPacket
import LinuxIO
import RelayCore
import RelayXDP
import Testing

/// The maps hold 65 536 channel bindings in each family combination, as Firezone's
/// rust/relay/ebpf-turn-router/src/try_handle_turn/channel_maps.rs sizes them, in under 100 MB, and say so when full.
@Suite(.enabled(if: PrivilegedTests.enabled, "needs root: loads the XDP program into the kernel"))
struct XDPCapacityTests {
    typealias F = XDPTestFixture

    /// Client `index` of a family: distinct addresses, so every key is distinct.
    static func client(_ family: IPVersion, _ index: Int) -> ClientSocket {
        switch family {
        case .v4:
            ClientSocket(IPSocketAddress(.v4(IPv4Address(rawValue: 0x6440_0000 | UInt32(index))), port: 40_000))
        case .v6:
            ClientSocket(
                IPSocketAddress(.v6(IPv6Address(high: 0x2001_0db8_00c0_0000, low: UInt64(index))), port: 40_000)
            )
        }
    }

    /// A peer socket per family combination: allocation ports are unique per allocation, so two clients never
    /// share a (peer, allocation port) key; here every port is taken by each combination.
    static func peer(_ client: IPVersion, _ peer: IPVersion) -> PeerSocket {
        PeerSocket(IPSocketAddress(F.peer(peer).address.address, port: client == .v4 ? 51_004 : 51_006))
    }

    /// An operator may size the maps down; the capacity holds per map.
    @Test func aSmallerCapacityHoldsExactlyThatMany() throws {
        let configuration = XDPConfiguration(
            publicIPv4: F.publicIPv4,
            publicIPv6: F.publicIPv6,
            interfaceIPv4: F.publicIPv4,
            interfaceIPv6: F.publicIPv6,
            listenPort: F.listenPort,
            allocationPorts: F.allocationPorts,
            bindingCapacity: 2
        )
        let program = try XDPProgram(configuration: configuration)
        for index in 0..<2 {
            try program.insertBinding(
                client: Self.client(.v4, index),
                channel: F.channel,
                peer: Self.peer(.v4, .v4),
                port: AllocationPort(UInt16(index))
            )
        }
        #expect(throws: SystemCallError(operation: "insert a peer-to-channel binding", errno: E2BIG)) {
            try program.insertBinding(
                client: Self.client(.v4, 2),
                channel: F.channel,
                peer: Self.peer(.v4, .v4),
                port: AllocationPort(2)
            )
        }
    }

    @Test func everyFamilyCombinationHolds65536BindingsInUnder100MB() throws {
        let program = try F.program()
        let capacity = Int(RELAY_XDP_MAXIMUM_BINDINGS)
        for (client, peer) in F.familyPairs {
            for index in 0..<capacity {
                try program.insertBinding(
                    client: Self.client(client, index),
                    channel: F.channel,
                    peer: Self.peer(client, peer),
                    port: AllocationPort(UInt16(index))
                )
            }
            // One more (a new client and a new peer socket) does not fit, and says so.
            let newPeer = PeerSocket(IPSocketAddress(F.peer(peer).address.address, port: 9))
            #expect(throws: SystemCallError(operation: "insert a peer-to-channel binding", errno: E2BIG)) {
                try program.insertBinding(
                    client: Self.client(client, capacity),
                    channel: F.channel,
                    peer: newPeer,
                    port: F.allocationPort
                )
            }
        }

        // The last binding of each combination still relays.
        for (client, peer) in F.familyPairs {
            let last = capacity - 1
            let port = UInt16(last)
            let result = try program.testRun(
                XDPTestFrames.udp(
                    from: Self.peer(client, peer).address,
                    to: IPSocketAddress(F.relayAddress(peer), port: port),
                    payload: [1, 2, 3]
                )
            )
            try expectTransmitted(
                result,
                input: peer,
                source: F.expectedSource(from: peer, to: client),
                destination: Self.client(client, last).address,
                sourcePort: F.listenPort,
                udpPayload: XDPTestFrames.channelData(F.channel.value, [1, 2, 3])
            )
        }
        let megabytes = Double(program.mapMemoryBytes()) / 1_000_000
        #expect(megabytes > 1, "the kernel reports the maps' memory")
        #expect(megabytes < 100, "\(megabytes) MB")
    }
}
