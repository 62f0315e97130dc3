import ConnlibCore
import FirezoneTime
import IPPacket
import NIOCore
import PortalMessages
import Testing

@Suite struct ClientDNSResourceNATTests {
    static let gateway = GatewayID("gateway")
    static let resource = ResourceID("resource")
    static let domain = try! DomainName("app.corp")
    static let proxyIPs: [IPAddress] = (1...4).map { .v4(IPv4Address(100, 96, 0, UInt8($0))) }
    static let key = ClientDNSResourceNAT.Key(gateway: gateway, domain: domain, resource: resource)

    static func packet(_ sourcePort: UInt16) -> IPPacket {
        try! IPPacket.makeUDP(
            source: .v4(IPv4Address(100, 64, 0, 2)),
            sourcePort: sourcePort,
            destination: proxyIPs[0],
            destinationPort: 443,
            payload: ByteBuffer(bytes: [1, 2, 3])
        )
    }

    static let assignedIPs = P2PControlMessage.assignedIPs(resource: resource, domain: "app.corp", proxyIPs: proxyIPs)

    private func send(
        _ nat: inout ClientDNSResourceNAT,
        _ packet: IPPacket,
        at seconds: Int
    )
        -> ClientDNSResourceNAT.Outgoing
    {
        nat.handleOutgoing(
            packet,
            gateway: Self.gateway,
            domain: Self.domain,
            resource: Self.resource,
            proxyIPs: Self.proxyIPs,
            now: .zero + .seconds(seconds)
        )
    }

    private func status(_ nat: inout ClientDNSResourceNAT, _ status: P2PControlMessage.DomainStatus) -> [IPPacket] {
        nat.handleDomainStatus(gateway: Self.gateway, resource: Self.resource, domain: Self.domain, status: status)
    }

    @Test func theFirstPacketSendsAssignedIPsAndIsBuffered() {
        var nat = ClientDNSResourceNAT()
        let outgoing = send(&nat, Self.packet(1), at: 0)
        #expect(outgoing.control == Self.assignedIPs)
        #expect(outgoing.packet == nil)
        #expect(nat.bufferedPackets(Self.key) == 1)
    }

    @Test func assignedIPsIsRepeatedAtMostEveryTwoSecondsWhilePending() {
        var nat = ClientDNSResourceNAT()
        #expect(send(&nat, Self.packet(1), at: 0).control != nil)
        #expect(send(&nat, Self.packet(2), at: 1).control == nil)
        #expect(send(&nat, Self.packet(3), at: 2).control == Self.assignedIPs)
        #expect(send(&nat, Self.packet(4), at: 3).control == nil)
        let update = nat.update(
            gateway: Self.gateway,
            domain: Self.domain,
            resource: Self.resource,
            proxyIPs: Self.proxyIPs,
            now: .zero + .seconds(4)
        )
        #expect(update == Self.assignedIPs)
    }

    @Test func activeConfirmsAndReplaysTheBufferedPacketsInOrder() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        _ = send(&nat, Self.packet(2), at: 0)
        #expect(status(&nat, .active) == [Self.packet(1), Self.packet(2)])
        let after = send(&nat, Self.packet(3), at: 5)
        #expect(after.packet == Self.packet(3) && after.control == nil)
    }

    @Test func inactiveFailsTheEntryWhosePacketsThenPassWithoutNewAssignedIPs() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        #expect(status(&nat, .inactive).isEmpty)
        let after = send(&nat, Self.packet(2), at: 10)
        #expect(after.packet == Self.packet(2) && after.control == nil)
    }

    @Test func aNewDNSAnswerRecreatesAConfirmedEntryWhileTrafficKeepsFlowing() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        _ = status(&nat, .active)
        nat.recreate(domain: Self.domain)
        let outgoing = send(&nat, Self.packet(2), at: 1)
        #expect(outgoing.control == Self.assignedIPs)
        #expect(outgoing.packet == Self.packet(2))
        #expect(!nat.isBuffering(Self.key))
    }

    @Test func aNewDNSAnswerRecreatesAFailedEntryWhichBuffersAgain() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        _ = status(&nat, .inactive)
        nat.recreate(domain: Self.domain)
        let outgoing = send(&nat, Self.packet(2), at: 1)
        #expect(outgoing.control == Self.assignedIPs)
        #expect(outgoing.packet == nil)
        #expect(status(&nat, .active) == [Self.packet(2)])
    }

    @Test func recreatingLeavesOtherDomainsAlone() throws {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        _ = status(&nat, .active)
        nat.recreate(domain: try DomainName("other.corp"))
        #expect(send(&nat, Self.packet(2), at: 1).control == nil)
    }

    @Test func theBufferHoldsAtMost128PacketsDroppingTheOldest() {
        var nat = ClientDNSResourceNAT()
        for port in 1...130 {
            _ = send(&nat, Self.packet(UInt16(port)), at: 0)
        }
        #expect(nat.bufferedPackets(Self.key) == 128)
        #expect(nat.droppedPackets == 2)
        #expect(status(&nat, .active).first == Self.packet(3))
    }

    @Test func aRetransmittedPacketIsBufferedOnce() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        _ = send(&nat, Self.packet(1), at: 1)
        #expect(nat.bufferedPackets(Self.key) == 1)
    }

    @Test func aDomainStatusWithoutAnEntryIsIgnored() {
        var nat = ClientDNSResourceNAT()
        #expect(status(&nat, .active).isEmpty)
        // Still no entry: the next packet starts one.
        #expect(send(&nat, Self.packet(1), at: 0).control == Self.assignedIPs)
    }

    @Test func entriesAreKeptPerGatewayAndClearedWithIt() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        let other = nat.handleOutgoing(
            Self.packet(2),
            gateway: GatewayID("other"),
            domain: Self.domain,
            resource: Self.resource,
            proxyIPs: Self.proxyIPs,
            now: .zero
        )
        #expect(other.control == Self.assignedIPs)
        nat.clear(gateway: Self.gateway)
        #expect(nat.bufferedPackets(Self.key) == 0)
        #expect(send(&nat, Self.packet(3), at: 1).control == Self.assignedIPs)
        let otherKey = ClientDNSResourceNAT.Key(
            gateway: GatewayID("other"),
            domain: Self.domain,
            resource: Self.resource
        )
        #expect(nat.bufferedPackets(otherKey) == 1)
    }

    @Test func clearingADomainForgetsItsEntries() {
        var nat = ClientDNSResourceNAT()
        _ = send(&nat, Self.packet(1), at: 0)
        _ = status(&nat, .active)
        nat.clear(domain: Self.domain)
        #expect(send(&nat, Self.packet(2), at: 1).control == Self.assignedIPs)
    }
}
