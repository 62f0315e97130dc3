import FirezoneTime
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

/// New credentials for the server an allocation is on (``Allocation/updateCredentials(username:password:realm:now:)``):
/// the server's allocation is deleted with the credentials that made it (RFC 8656 §5: any other username gets 441),
/// then made again with the new ones.
struct AllocationCredentialsTests {
    typealias Server = ScriptedServer

    static let newUsername = "1700003600:rejoined"
    static let newPassword = "another secret"
    static let newKey = LongTermCredentials.key(username: newUsername, realm: Server.realm, password: newPassword)

    static func allocated() throws -> Server {
        var server = Server()
        try server.allocate()
        server.allocation.updateCredentials(
            username: Self.newUsername,
            password: Self.newPassword,
            realm: Server.realm,
            now: server.now
        )
        return server
    }

    /// The one request the allocation sent, the deletion, checked to be signed with the old credentials.
    static func deletion(_ server: inout Server) throws -> Server.Sent {
        let sent = try server.sent()
        try #require(sent.count == 1)
        let delete = sent[0]
        #expect(delete.message.type.method == .refresh)
        #expect(delete.message.lifetime == 0)
        #expect(delete.message.username == Server.username)
        #expect(delete.message.verifyMessageIntegrity(key: Server.key))
        return delete
    }

    /// The one request the allocation sent, an ALLOCATE signed with the new credentials, answered with success.
    static func expectAllocationWithNewCredentials(_ server: inout Server) throws {
        let sent = try server.sent()
        try #require(sent.count == 1)
        let allocate = sent[0]
        #expect(allocate.message.type.method == .allocate)
        #expect(allocate.message.username == Self.newUsername)
        #expect(allocate.message.verifyMessageIntegrity(key: Self.newKey))
        let success = Server.response(
            to: allocate.message,
            attributes: [
                .xorRelayedAddress(Server.relayedV4), .xorRelayedAddress(Server.relayedV6), .lifetime(600),
            ],
            key: Self.newKey
        )
        let handled = server.deliver(success, for: allocate)
        #expect(handled)
        #expect(server.allocation.relayedAddresses == [Server.relayedV4, Server.relayedV6])
    }

    @Test func newCredentialsDeleteTheAllocationWithTheOldOnesThenAllocateWithTheNewOnes() throws {
        var server = try Self.allocated()
        #expect(
            server.events() == [
                .invalidatedAddress(.relayed, Server.relayedV4), .invalidatedAddress(.relayed, Server.relayedV6),
            ]
        )
        let delete = try Self.deletion(&server)
        let deleted = Server.response(to: delete.message, attributes: [.lifetime(0)], key: Server.key)
        let handled = server.deliver(deleted, for: delete)
        #expect(handled)
        try Self.expectAllocationWithNewCredentials(&server)
    }

    /// 438 to the deletion: it is retried with the fresh nonce, still signed with the old credentials.
    @Test func aStaleNonceOnTheDeletionRetriesItWithTheOldCredentials() throws {
        var server = try Self.allocated()
        let delete = try Self.deletion(&server)
        server.nonce = "nonce-2"
        let stale = Server.response(
            to: delete.message,
            error: .staleNonce,
            attributes: [.realm(Server.realm), .nonce(server.nonce)]
        )
        let handled = server.deliver(stale, for: delete)
        #expect(handled)
        let retry = try Self.deletion(&server)
        #expect(retry.message.nonce == "nonce-2")
    }

    /// 437 to the deletion: the server has no allocation for the 5-tuple; allocate with the new credentials.
    @Test func a437ToTheDeletionAllocatesWithTheNewCredentials() throws {
        var server = try Self.allocated()
        let delete = try Self.deletion(&server)
        let mismatch = Server.response(to: delete.message, error: .allocationMismatch, key: Server.key)
        let handled = server.deliver(mismatch, for: delete)
        #expect(handled)
        try Self.expectAllocationWithNewCredentials(&server)
    }

    /// 401 to the signed deletion: the old credentials expired, which says nothing about the new ones.
    @Test func refusedOldCredentialsStillAllocateWithTheNewOnes() throws {
        var server = try Self.allocated()
        let delete = try Self.deletion(&server)
        let refusal = Server.response(
            to: delete.message,
            error: .unauthorized,
            attributes: [.realm(Server.realm), .nonce(server.nonce)]
        )
        let handled = server.deliver(refusal, for: delete)
        #expect(handled)
        try Self.expectAllocationWithNewCredentials(&server)
    }

    /// Credentials the server refused left the allocation with nothing to do (the Node frees such an allocation):
    /// new ones allocate at once.
    @Test func newCredentialsAfterRefusedOnesAllocate() throws {
        var server = Server()
        let signed = try #require(
            try AllocationErrorTests.runUntil(&server, pick: AllocationErrorTests.isSigned(.allocate))
        )
        let refusal = Server.response(
            to: signed.message,
            error: .unauthorized,
            attributes: [.realm(Server.realm), .nonce(server.nonce)]
        )
        server.deliver(refusal, for: signed)
        _ = server.events()
        #expect(server.allocation.canBeFreed)
        server.allocation.updateCredentials(
            username: Self.newUsername,
            password: Self.newPassword,
            realm: Server.realm,
            now: server.now
        )
        #expect(!server.allocation.canBeFreed)
        try Self.expectAllocationWithNewCredentials(&server)
    }

    /// The same credentials again (a relay list repeated) change nothing.
    @Test func theSameCredentialsSendNothing() throws {
        var server = Server()
        try server.allocate()
        server.allocation.updateCredentials(
            username: Server.username,
            password: Server.password,
            realm: Server.realm,
            now: server.now
        )
        #expect(try server.sent().isEmpty)
        #expect(server.events().isEmpty)
        #expect(server.allocation.relayedAddresses == [Server.relayedV4, Server.relayedV6])
    }
}
