import Connlib
import Glibc
import HeadlessClient
import Testing

struct ClientStatusTests {
    static let status = ClientStatus(
        signedIn: true,
        resources: [],
        connections: [
            .init(gatewayID: "gw-b", path: .relayToRelay, established: true, secondsSinceHandshake: 12),
            .init(gatewayID: "gw-a", path: .direct, established: true, secondsSinceHandshake: 3),
            .init(gatewayID: "gw-c", path: nil, established: false, secondsSinceHandshake: nil),
        ],
        writtenAt: 1_000
    )

    @Test func connectionsAreListedByGatewayID() {
        #expect(Self.status.connections.map(\.gatewayID) == ["gw-a", "gw-b", "gw-c"])
    }

    @Test func renderShowsPathAndLastHandshakeOfEachConnection() {
        let text = Self.status.render(unixTime: 1_001)
        #expect(text.hasPrefix("Signed in: yes\n"))
        #expect(text.contains("gateway gw-a  direct  last handshake 3 s ago"))
        #expect(text.contains("gateway gw-b  relay to relay  last handshake 12 s ago"))
        #expect(text.contains("gateway gw-c  connecting  no handshake yet"))
        #expect(!text.contains("may not be running"))
    }

    @Test func renderFlagsAStaleFile() {
        let text = Self.status.render(unixTime: 1_000 + ClientStatus.staleAfterSeconds + 1)
        #expect(text.contains("may not be running"))
    }

    @Test func statusFileIsReplacedWholeAndReadBack() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = StatusFile(path: "\(directory.path)/run/status.json")

        try file.write(Self.status)
        var signedOut = Self.status
        signedOut.signedIn = false
        try file.write(signedOut)

        #expect(try file.read() == signedOut)
        #expect(access("\(directory.path)/run/status.json.tmp", F_OK) != 0)
        file.remove()
        #expect(throws: StatusFile.Failure.self) { try file.read() }
    }

    @Test func clientIDIsGeneratedOnceAndKept() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/var/lib/config/firezone-id"

        let first = try PersistentDeviceID.resolve(path: path)
        let second = try PersistentDeviceID.resolve(path: path)

        #expect(first == second)
        #expect(first.count == 36)
    }

    @Test func anEmptyIDPathIsAFailureNotACrash() {
        #expect(throws: PersistentDeviceID.Failure.self) { try PersistentDeviceID.resolve(path: "") }
    }
}
