import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import RelayCore
import STUN
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Nothing of Swift's per-process hashing reaches the relay's output: a fixed run is compared byte for byte with a
/// transcript committed in `Fixtures/relay-server-transcript.txt`.
///
/// Two runs in one process share one hash seed (and `SWIFT_DETERMINISTIC_HASHING=1` fixes it across processes), so
/// comparing runs with each other cannot see an order that comes from a `Dictionary` or `Set`; a committed transcript
/// made in another process can. After an intended change of the output, regenerate it with
/// `UPDATE_GOLDEN_TRANSCRIPTS=1 swift test --filter RelayServerTranscriptTests` and review the diff.
struct RelayServerTranscriptTests {
    static let fixture = "relay-server-transcript.txt"

    @Test
    func aFixedRunProducesTheCommittedTranscript() throws {
        let transcript = try Self.run()
        let path = Self.fixturePath(Self.fixture)
        if getenv("UPDATE_GOLDEN_TRANSCRIPTS") != nil {
            try Self.write(transcript, to: path)
        }
        let expected = try #require(Self.read(path), "no transcript at \(path)")
        guard transcript != expected else {
            return
        }
        let actualLines = transcript.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let line =
            zip(actualLines, expectedLines).enumerated().first { $1.0 != $1.1 }?.offset
            ?? min(actualLines.count, expectedLines.count)
        Issue.record(
            """
            the transcript differs from \(Self.fixture) at line \(line + 1):
              expected: \(line < expectedLines.count ? expectedLines[line] : "<end>")
              actual:   \(line < actualLines.count ? actualLines[line] : "<end>")
            """
        )
    }

    /// Five clients allocate on both families and bind four channels each, then everything expires: every response
    /// in full (hex) and every datapath command, in the order the relay produced them.
    static func run() throws -> String {
        var relay = RelayHarness(seed: 0x5EED)
        var lines: [String] = []
        for index in 0..<5 {
            let alice = client("198.51.100.\(index):40000")
            let credentials = RelayHarness.credentials(salt: "c\(index)")
            var commands: [RelayCommand] = []
            let allocated = try relay.authenticated(
                .allocate,
                from: alice,
                attributes: [.requestedTransport(17), .additionalAddressFamily(.v6)],
                credentials: credentials,
                otherCommands: &commands
            )
            lines.append("response to \(alice): \(hex(allocated.buffer))")
            for channel in 0..<4 {
                let bound = try relay.authenticated(
                    .channelBind,
                    from: alice,
                    attributes: [
                        .channelNumber(0x4000 + UInt16(channel)),
                        .xorPeerAddress(IPSocketAddress("192.0.2.\(channel):9")!),
                    ],
                    credentials: credentials,
                    otherCommands: &commands
                )
                lines.append("response to \(alice): \(hex(bound.buffer))")
            }
            lines += commands.map(Self.line)
        }
        relay.advance(by: .seconds(3600))
        lines += relay.drain().map(Self.line)
        return lines.joined(separator: "\n") + "\n"
    }

    static func line(_ command: RelayCommand) -> String {
        switch command {
        case .sendMessage(let bytes, let client):
            "sendMessage to \(client): \(hex(bytes))"
        case .createAllocation(let port, let version):
            "createAllocation \(port) \(version)"
        case .freeAllocation(let port, let version):
            "freeAllocation \(port) \(version)"
        case .createChannelBinding(let client, let channel, let peer, let port):
            "createChannelBinding client \(client) channel \(channel) peer \(peer) port \(port)"
        case .refreshChannelBinding(let client, let channel, let peer, let port):
            "refreshChannelBinding client \(client) channel \(channel) peer \(peer) port \(port)"
        case .deleteChannelBinding(let client, let channel, let peer, let port):
            "deleteChannelBinding client \(client) channel \(channel) peer \(peer) port \(port)"
        }
    }

    static func fixturePath(_ name: String) -> String {
        var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast()
        return (components + ["Fixtures", Substring(name)]).joined(separator: "/")
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else {
            return nil
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while case let count = fread(&chunk, 1, chunk.count, file), count > 0 {
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ text: String, to path: String) throws {
        let file = try #require(fopen(path, "wb"), "cannot write \(path)")
        defer { fclose(file) }
        let bytes = Array(text.utf8)
        #expect(fwrite(bytes, 1, bytes.count, file) == bytes.count)
    }
}
