import ConnlibCore
import IPPacket
import NIOCore
import PortalMessages
import Testing

@Suite struct P2PControlMessageTests {
    static let resource = ResourceID("73037362-715d-4a83-a749-f18eadd970e6")
    static let proxyIPs: [IPAddress] = (1...4).map { .v4(IPv4Address(100, 96, 0, UInt8($0))) }

    static func controlPacket(_ eventType: UInt8, _ json: String) throws -> IPPacket {
        var body = ByteBuffer()
        body.writeString(json)
        return try IPPacket.makeFZP2PControl(eventType: .init(rawValue: eventType), body: body)
    }

    @Test func assignedIPsRoundTripsThroughAControlPacket() throws {
        let message = P2PControlMessage.assignedIPs(
            resource: Self.resource,
            domain: "app.corp.example",
            proxyIPs: Self.proxyIPs
        )
        let packet = try message.makePacket()
        #expect(packet.isFZP2PControl)
        #expect(packet.hopLimit == 0)
        #expect(packet.fzP2PControl?.eventType == .assignedIPs)
        #expect(try P2PControlMessage(parsing: packet) == message)
    }

    @Test func assignedIPsBodyIsConnlibsJSON() throws {
        let packet = try Self.controlPacket(
            0,
            #"{"resource":"73037362-715d-4a83-a749-f18eadd970e6","domain":"app.corp.example","proxy_ips":["#
                + #""100.96.0.1","100.96.0.2","100.96.0.3","100.96.0.4","fd00:2021:1111:8000::","#
                + #""fd00:2021:1111:8000::1","fd00:2021:1111:8000::2","fd00:2021:1111:8000::3"]}"#
        )
        guard case .assignedIPs(let resource, let domain, let proxyIPs) = try P2PControlMessage(parsing: packet) else {
            Issue.record("not assignedIPs")
            return
        }
        #expect(resource == Self.resource)
        #expect(domain == "app.corp.example")
        #expect(proxyIPs.count == 8)
        #expect(proxyIPs[4] == IPAddress("fd00:2021:1111:8000::"))
        let encoded = String(
            buffer: try P2PControlMessage.assignedIPs(
                resource: resource,
                domain: domain,
                proxyIPs: Array(proxyIPs[0..<4])
            ).makePacket().fzP2PControl!.body
        )
        #expect(
            encoded
                == #"{"domain":"app.corp.example","proxy_ips":["100.96.0.1","100.96.0.2","100.96.0.3","100.96.0.4"],"resource":"73037362-715d-4a83-a749-f18eadd970e6"}"#
        )
    }

    @Test(arguments: [0, 3, 5, 9])
    func assignedIPsWithOtherThanFourOrEightAddressesIsMalformed(count: Int) throws {
        let ips = (0..<count).map { "\"100.96.0.\($0 + 1)\"" }.joined(separator: ",")
        let packet = try Self.controlPacket(0, #"{"resource":"r","domain":"a.example","proxy_ips":["# + ips + "]}")
        #expect(throws: P2PControlMessageError.self) { try P2PControlMessage(parsing: packet) }
    }

    @Test func assignedIPsWithANonAddressIsMalformed() throws {
        let ips = Array(repeating: "\"100.96.0.1\"", count: 3).joined(separator: ",") + ",\"app.example\""
        let packet = try Self.controlPacket(0, #"{"resource":"r","domain":"a.example","proxy_ips":["# + ips + "]}")
        #expect(throws: P2PControlMessageError.self) { try P2PControlMessage(parsing: packet) }
    }

    @Test func domainStatusActiveAndInactiveAreConnlibsNames() throws {
        for (status, name) in [(P2PControlMessage.DomainStatus.active, "Active"), (.inactive, "Inactive")] {
            let message = P2PControlMessage.domainStatus(resource: Self.resource, domain: "a.example", status: status)
            let packet = try message.makePacket()
            #expect(String(buffer: packet.fzP2PControl!.body).contains(#""status":"\#(name)""#))
            #expect(try P2PControlMessage(parsing: packet) == message)
        }
    }

    @Test func unknownDomainStatusReadsAsInactive() throws {
        let packet = try Self.controlPacket(1, #"{"resource":"r","domain":"a.example","status":"Degraded"}"#)
        #expect(
            try P2PControlMessage(parsing: packet)
                == .domainStatus(resource: ResourceID("r"), domain: "a.example", status: .inactive)
        )
    }

    @Test func goodbyeHasAnEmptyBody() throws {
        let packet = try P2PControlMessage.goodbye.makePacket()
        #expect(packet.fzP2PControl?.eventType == .goodbye)
        #expect(packet.fzP2PControl?.body.readableBytes == 0)
        #expect(try P2PControlMessage(parsing: packet) == .goodbye)
    }

    @Test func unknownEventAndOrdinaryPacketsAreRejected() throws {
        #expect(throws: P2PControlMessageError.unknownEvent(3)) {
            try P2PControlMessage(parsing: try Self.controlPacket(3, ""))
        }
        let ordinary = try IPPacket.makeUDP(
            source: .v6(IPv6Address("fd00:2021:1111::1")!),
            sourcePort: 1,
            destination: .v6(IPv6Address("fd00:2021:1111::2")!),
            destinationPort: 2,
            payload: ByteBuffer()
        )
        #expect(throws: P2PControlMessageError.notAControlPacket) { try P2PControlMessage(parsing: ordinary) }
        #expect(throws: P2PControlMessageError.self) { try P2PControlMessage(parsing: try Self.controlPacket(1, "{")) }
    }
}
