import FirezoneTime
import Foundation
import IPPacket
import NIOCore
import STUN
import TURNClient
import Testing

/// ``Allocation`` against coturn's `turnserver` on loopback, with a static long-term user: a standard RFC 8656
/// server that is not ours. Real UDP sockets, real time.
@Suite(.timeLimit(.minutes(1)))
struct CoturnInteropTests {
    static let username = "u"
    static let password = "p"
    static let realm = "firezone"

    /// A `turnserver` process, ended by its PID when the test is done.
    final class Coturn {
        let process = Process()
        let logPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("turnserver-\(UUID().uuidString).log")
        let port: UInt16

        init() throws {
            let binary = ["/usr/bin/turnserver", "/usr/local/bin/turnserver"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
            guard let binary else {
                throw LoopbackUDPSocket.Failure(
                    description:
                        "turnserver (Debian package coturn) is not installed; tests/install-deps.sh installs it"
                )
            }
            // A port that was free a moment ago; turnserver fails to start (and the test says so) if it is taken
            // in between.
            self.port = try LoopbackUDPSocket().address.port
            FileManager.default.createFile(atPath: self.logPath.path, contents: nil)
            let log = try FileHandle(forWritingTo: self.logPath)
            self.process.executableURL = URL(fileURLWithPath: binary)
            self.process.arguments = [
                "-n", "--listening-ip=127.0.0.1", "--listening-port=\(self.port)", "--relay-ip=127.0.0.1",
                "--lt-cred-mech", "--user=\(CoturnInteropTests.username):\(CoturnInteropTests.password)",
                "--realm=\(CoturnInteropTests.realm)", "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers",
                "--log-file=stdout", "--simple-log", "--verbose",
                "--pidfile=\(self.logPath.path).pid", "--db=\(self.logPath.path).db",
            ]
            self.process.standardOutput = log
            self.process.standardError = log
            try self.process.run()
        }

        /// The end of turnserver's log, for failure messages.
        var logTail: String {
            let text = (try? String(contentsOf: self.logPath, encoding: .utf8)) ?? "(no log)"
            return text.split(separator: "\n").suffix(30).joined(separator: "\n")
        }

        /// SIGTERM, and SIGKILL if it is still running two seconds later (turnserver can take its time to stop).
        deinit {
            let pid = self.process.processIdentifier
            if self.process.isRunning {
                kill(pid, SIGTERM)
                let deadline = ContinuousClock.now + .seconds(2)
                while self.process.isRunning && ContinuousClock.now < deadline {
                    usleep(20_000)
                }
                if self.process.isRunning {
                    kill(pid, SIGKILL)
                }
                self.process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: self.logPath)
            for suffix in [".pid", ".db"] {
                try? FileManager.default.removeItem(atPath: self.logPath.path + suffix)
            }
        }
    }

    /// An allocation on a real socket, its clock the continuous clock since it started.
    struct Client {
        var allocation: Allocation
        let socket: LoopbackUDPSocket
        let start = ContinuousClock.now
        var received: [(peer: IPSocketAddress, payload: ByteBuffer)] = []
        var events: [AllocationEvent] = []

        init(server: IPSocketAddress) throws {
            self.socket = try LoopbackUDPSocket()
            self.allocation = Allocation(
                server: .v4(server),
                username: CoturnInteropTests.username,
                password: CoturnInteropTests.password,
                realm: CoturnInteropTests.realm,
                software: "snownet; coturn interop",
                seed: UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue),
                now: .zero,
                logger: ScriptedServer.silent
            )
        }

        var now: Instant {
            Instant(nanoseconds: UInt64((ContinuousClock.now - self.start).nanoseconds))
        }

        /// Runs timers, sends and receives until `condition` holds or `timeout` passes; whether it held.
        mutating func drive(for timeout: Duration, until condition: (inout Client) throws -> Bool) throws -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if try condition(&self) {
                    return true
                }
                while let transmit = self.allocation.pollTransmit() {
                    try self.socket.send(transmit.payload, to: transmit.destination)
                }
                while let event = self.allocation.pollEvent() {
                    self.events.append(event)
                }
                let now = self.now
                if let timeout = self.allocation.pollTimeout(), timeout <= now {
                    self.allocation.handleTimeout(now: now)
                    continue
                }
                let wait = min(
                    .milliseconds(20),
                    self.allocation.pollTimeout().map { $0 - now } ?? .milliseconds(20)
                )
                guard let (payload, source) = try self.socket.receive(timeout: wait) else {
                    continue
                }
                let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self) ?? 0xFF
                if first < 4 {
                    let message = try STUNMessage(decoding: payload)
                    _ = self.allocation.handleSTUN(message, from: source, local: self.socket.address, now: self.now)
                } else if (0x40...0x4F).contains(first), self.allocation.isServer(source) {
                    let data = try ChannelData(decoding: payload)
                    if let peer = self.allocation.peer(forChannel: ChannelNumber(data.channelNumber), now: self.now) {
                        self.received.append((peer, data.payload))
                    }
                }
            }
            return try condition(&self)
        }

        /// Sends `payload` to `peer` as channel data; false when there is no channel yet.
        mutating func send(_ payload: ByteBuffer, to peer: IPSocketAddress) throws -> Bool {
            guard let channel = self.allocation.channelForSending(to: peer, now: self.now),
                let server = self.allocation.activeSocket
            else {
                return false
            }
            var message = ByteBuffer()
            ChannelData(channelNumber: channel.value, payload: payload).write(into: &message)
            try self.socket.send(message, to: server)
            return true
        }
    }

    @Test func allocatesBindsAChannelAndRelaysBothWaysThroughCoturn() throws {
        let coturn: Coturn
        do {
            coturn = try Coturn()
        } catch {
            Issue.record("\(error)")
            return
        }
        let server = IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: coturn.port)
        var client = try Client(server: server)
        let peer = try LoopbackUDPSocket()

        let allocated = try client.drive(for: .seconds(10)) { !$0.allocation.relayedAddresses.isEmpty }
        try #require(allocated, "no allocation from turnserver on \(server); its log:\n\(coturn.logTail)")
        let relayed = try #require(client.allocation.relayedAddresses.first)
        #expect(relayed.address == server.address)
        #expect(client.allocation.serverReflexiveAddresses == [client.socket.address])
        #expect(client.allocation.hostAddresses == [client.socket.address])
        #expect(client.allocation.smoothedRTT != nil)
        #expect(client.allocation.stats.integrityFailures == 0)

        // Until the channel carries data both ways: the peer writes to the relayed address, the client on the
        // channel (in flight at first).
        var peerReceived: [ByteBuffer] = []
        let bothWays = try client.drive(for: .seconds(10)) { client in
            try peer.send(ByteBuffer(string: "hello from the peer"), to: relayed)
            _ = try client.send(ByteBuffer(string: "hello from the client"), to: peer.address)
            while let (payload, source) = try peer.receive(timeout: .milliseconds(10)) {
                #expect(source == relayed)
                peerReceived.append(payload)
            }
            return !client.received.isEmpty && !peerReceived.isEmpty
        }
        try #require(bothWays, "no data through the channel; turnserver's log:\n\(coturn.logTail)")
        #expect(client.received.allSatisfy { $0.peer == peer.address })

        // Now counted: ten each way (datagrams of the warm-up still on their way are left out by their text).
        client.received.removeAll()
        peerReceived.removeAll()
        for index in 0..<10 {
            try peer.send(ByteBuffer(string: "peer \(index)"), to: relayed)
            #expect(try client.send(ByteBuffer(string: "client \(index)"), to: peer.address))
        }
        let delivered = try client.drive(for: .seconds(5)) { client in
            while let (payload, _) = try peer.receive(timeout: .milliseconds(1)) {
                peerReceived.append(payload)
            }
            client.received.removeAll { String(buffer: $0.payload).hasPrefix("hello") }
            peerReceived.removeAll { String(buffer: $0).hasPrefix("hello") }
            return client.received.count >= 10 && peerReceived.count >= 10
        }
        #expect(delivered, "client received \(client.received.count), peer \(peerReceived.count) of 10")
        #expect(client.received.map { String(buffer: $0.payload) } == (0..<10).map { "peer \($0)" })
        #expect(peerReceived.map { String(buffer: $0) } == (0..<10).map { "client \($0)" })
    }
}
