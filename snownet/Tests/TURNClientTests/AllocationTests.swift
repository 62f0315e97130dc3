import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

struct AllocationTests {
    typealias Server = ScriptedServer

    @Test func startsWithAnUnauthenticatedBindingThenAllocates() throws {
        var server = Server()
        let binding = try #require(try server.sent().first)
        #expect(binding.destination == Server.serverV4)
        #expect(binding.message.type == STUNMessageType(method: .binding, class: .request))
        #expect(binding.message.software == Server.software)
        #expect(!binding.message.hasMessageIntegrity)

        server.deliver(server.standardResponse(to: binding.message, destination: binding.destination), for: binding)
        #expect(
            server.events() == [
                .newAddress(.host, Server.localV4), .newAddress(.serverReflexive, Server.mappedV4),
            ]
        )
        #expect(server.allocation.activeSocket == Server.serverV4)

        // RFC 8489 §9.2.3.1: the first request carries no credentials.
        let allocate = try #require(try server.sent().first)
        #expect(allocate.message.type == STUNMessageType(method: .allocate, class: .request))
        #expect(allocate.message.requestedTransport == 17)
        #expect(allocate.message.additionalAddressFamily == .v6)
        #expect(allocate.message.requestedAddressFamily == nil)
        #expect(allocate.message.software == Server.software)
        #expect(allocate.message.username == nil && allocate.message.nonce == nil)
        #expect(!allocate.message.hasMessageIntegrity)

        // The 401 brings REALM and NONCE: the same request again, signed, under a new transaction id.
        server.deliver(server.standardResponse(to: allocate.message, destination: allocate.destination), for: allocate)
        let signed = try #require(try server.sent().first)
        #expect(signed.message.type.method == .allocate)
        #expect(signed.message.transactionID != allocate.message.transactionID)
        #expect(signed.message.username == Server.username)
        #expect(signed.message.realm == Server.realm)
        #expect(signed.message.nonce == server.nonce)
        #expect(signed.message.verifyMessageIntegrity(key: Server.key))
        #expect(signed.message.additionalAddressFamily == .v6)

        server.deliver(server.standardResponse(to: signed.message, destination: signed.destination), for: signed)
        #expect(server.events() == [.newAddress(.relayed, Server.relayedV4), .newAddress(.relayed, Server.relayedV6)])
        #expect(server.allocation.relayedAddresses == [Server.relayedV4, Server.relayedV6])
        #expect(server.allocation.hostAddresses == [Server.localV4])
        #expect(server.allocation.serverReflexiveAddresses == [Server.mappedV4])
        #expect(!server.allocation.canBeFreed)
    }
}
