import ArgumentParser
import FirezoneCrypto
import Glibc
import IPPacket
import LinuxIO
import NIOCore
import RelayCore
import STUN

/// A TURN load generator: N clients allocate on a relay and bind a channel each to a peer socket of ours; then
/// clients send channel data to their peers and peers send datagrams back to the relayed addresses, as fast as
/// the sockets take them, for a fixed time. It prints what the relay relayed: datagrams received at both ends.
///
/// Works against our relay (Firezone credentials) and coturn (`use-auth-secret` REST credentials), so that
/// `tests/perf/relay.sh` can compare them on the same topology.
@main
struct RelayLoad: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "relay-load")

    @Option(help: "The relay's STUN/TURN address, e.g. 10.96.0.2:3478.")
    var relay: String
    @Option(help: "Local address for client and peer sockets.")
    var local: String
    @Option(help: "Allocations (clients), each with one channel to its own peer socket.")
    var allocations = 16
    @Option(help: "Seconds of load.")
    var seconds = 5.0
    @Option(help: "Application bytes per datagram.")
    var payload = 100
    @Option(help: "Firezone relay secret (username <expiry>:<salt>, SHA-256 password).")
    var firezoneSecret: String?
    @Option(help: "coturn static-auth-secret (REST API credentials, HMAC-SHA1 password).")
    var coturnSecret: String?
    @Option(help: "The realm coturn is configured with.")
    var realm = "firezone"
    @Flag(
        help:
            "Only send: what comes back is counted elsewhere (tests/perf/relay.sh drops and counts it in XDP at the load host's interface), so that receiving costs the load generator nothing."
    )
    var sendOnly = false
    @Option(
        help:
            "Bursts of 32 datagrams per second and direction, over all allocations; 0 (the default) sends as fast as the sockets take them. A paced load shows what a relay delivers when it is not overrun."
    )
    var burstsPerSecond = 0

    func validate() throws {
        guard (self.firezoneSecret == nil) != (self.coturnSecret == nil) else {
            throw ValidationError("give exactly one of --firezone-secret and --coturn-secret")
        }
        guard IPSocketAddress(self.relay) != nil, IPAddress(self.local) != nil else {
            throw ValidationError("--relay must be ADDRESS:PORT and --local an address")
        }
        guard (1...4096).contains(self.allocations), (1...1400).contains(self.payload), self.seconds > 0,
            self.seconds <= 120
        else {
            throw ValidationError("--allocations 1...4096, --payload 1...1400, --seconds up to 120")
        }
        guard self.burstsPerSecond >= 0 else {
            throw ValidationError("--bursts-per-second must not be negative")
        }
    }

    func run() throws {
        let relay = IPSocketAddress(self.relay)!
        let local = IPAddress(self.local)!
        var sessions: [Session] = []
        for index in 0..<self.allocations {
            sessions.append(try Session(index: index, relay: relay, local: local, credentials: self.credentials(index)))
        }
        let result = Blaster(
            sessions: sessions,
            relay: relay,
            payload: self.payload,
            receive: !self.sendOnly,
            burstsPerSecond: self.burstsPerSecond
        ).run(seconds: self.seconds)
        let total = result.receivedAtPeers + result.receivedAtClients
        print("allocations=\(self.allocations) payload=\(self.payload) seconds=\(self.seconds)")
        print("sent_to_peers=\(result.sentToPeers) received_at_peers=\(result.receivedAtPeers)")
        print("sent_to_clients=\(result.sentToClients) received_at_clients=\(result.receivedAtClients)")
        print("malformed=\(result.malformed)")
        print("relayed_packets_per_second=\(Int(Double(total) / self.seconds))")
    }

    /// Unique per process too: the relay keeps one allocation per username, and several generators may run at once.
    static func salt(_ index: Int) -> String {
        "load\(getpid())-\(index)"
    }

    /// A username and password for client `index`.
    func credentials(_ index: Int) -> (username: String, password: String) {
        let expiry = UInt64(time(nil)) + 3600
        if let secret = self.firezoneSecret {
            return RelayCredentials.mint(expiry: expiry, salt: Self.salt(index), secret: secret)
        }
        // coturn's REST API: password = base64(HMAC-SHA1(secret, username)).
        let username = "\(expiry):\(Self.salt(index))"
        var mac = HMACSHA1(key: Array(self.coturnSecret!.utf8))
        Array(username.utf8).withUnsafeBytes { mac.update($0) }
        let digest = mac.finalize()
        var password = Base64.encode(digest, padding: false)
        while password.count % 4 != 0 {
            password += "="
        }
        return (username, password)
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
}

/// One client socket with its allocation, and the peer socket its channel is bound to.
struct Session {
    static let channel: UInt16 = 0x4000

    let client: Int32
    let peer: Int32
    let relayed: IPSocketAddress
    let peerAddress: IPSocketAddress

    init(index: Int, relay: IPSocketAddress, local: IPAddress, credentials: (username: String, password: String)) throws
    {
        let client = try Self.bind(local)
        let peer = try Self.bind(local)
        let peerAddress = IPSocketAddress(local, port: UInt16(fz_udp_local_port(peer)))

        // The relayed address is in the peers' family (RFC 8656 §7.2: REQUESTED-ADDRESS-FAMILY, IPv4 without it).
        var allocate: [STUNAttribute] = [.requestedTransport(17)]
        if local.version == .v6 {
            allocate.append(.requestedAddressFamily(.v6))
        }
        let challenge = try Self.transact(.allocate, allocate, key: nil, on: client, to: relay)
        guard let nonce = challenge.nonce, let realm = challenge.realm else {
            throw LoadError(description: "the relay's challenge had no nonce or realm")
        }
        let key = LongTermCredentials.key(username: credentials.username, realm: realm, password: credentials.password)
        let auth: [STUNAttribute] = [.username(credentials.username), .realm(realm), .nonce(nonce)]
        let allocated = try Self.transact(.allocate, allocate + auth, key: key, on: client, to: relay)
        guard let relayed = allocated.xorRelayedAddresses.first else {
            throw LoadError(
                description:
                    "allocation \(index) failed: \(allocated.errorCode.map(String.init(describing:)) ?? "no relayed address")"
            )
        }
        let bound = try Self.transact(
            .channelBind,
            [.channelNumber(Self.channel), .xorPeerAddress(peerAddress)] + auth,
            key: key,
            on: client,
            to: relay
        )
        guard bound.type.class == .successResponse else {
            throw LoadError(
                description: "channel bind \(index) failed: \(bound.errorCode.map(String.init(describing:)) ?? "?")"
            )
        }
        self.client = client
        self.peer = peer
        self.peerAddress = peerAddress
        self.relayed = relayed
    }

    /// A request and its response, retransmitted up to five times a second apart.
    static func transact(
        _ method: STUNMethod,
        _ attributes: [STUNAttribute],
        key: [UInt8]?,
        on fd: Int32,
        to relay: IPSocketAddress
    ) throws -> STUNMessage {
        var rng = SystemRandomNumberGenerator()
        var request = ByteBuffer()
        let transaction = TransactionID(using: &rng)
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: method, class: .request),
            transactionID: transaction,
            attributes: attributes,
            messageIntegrityKey: key,
            into: &request
        )
        for _ in 0..<5 {
            try Self.send(request, from: fd, to: relay)
            // Anything else on the socket (a late answer to an earlier request) is not this one's answer.
            while let response = try Self.receive(on: fd, timeoutMilliseconds: 1000) {
                if let message = try? STUNMessage(decoding: response), message.transactionID == transaction {
                    return message
                }
            }
        }
        throw LoadError(description: "no answer from \(relay) to \(method)")
    }

    static func bind(_ address: IPAddress) throws -> Int32 {
        let fd = bindUDP(address, port: 0, receiveBuffer: 4 << 20, sendBuffer: 4 << 20)
        guard fd >= 0 else {
            throw LoadError(description: "cannot bind a socket on \(address): errno \(-fd)")
        }
        // What a relay sends with GSO arrives as one buffer; `drain` counts its datagrams.
        _ = fz_udp_enable_gro(fd)
        return fd
    }

    static func send(_ message: ByteBuffer, from fd: Int32, to destination: IPSocketAddress) throws {
        var bytes = Array(message.readableBytesView)
        var datagram = fz_datagram()
        datagram.setDestination(destination)
        datagram.length = UInt32(bytes.count)
        var failed: UInt32 = 0
        let sent = bytes.withUnsafeMutableBufferPointer { buffer in
            datagram.bytes = buffer.baseAddress
            return fz_udp_send_batch(fd, &datagram, 1, &failed)
        }
        guard sent == 1, failed == 0 else {
            throw LoadError(description: "send failed")
        }
    }

    static func receive(on fd: Int32, timeoutMilliseconds: Int32) throws -> ByteBuffer? {
        let deadline = timeoutMilliseconds
        var waited: Int32 = 0
        var bytes = [UInt8](repeating: 0, count: 2048)
        while waited <= deadline {
            var datagram = fz_datagram()
            datagram.capacity = UInt32(bytes.count)
            let count = bytes.withUnsafeMutableBufferPointer { buffer in
                datagram.bytes = buffer.baseAddress
                return fz_udp_receive_batch(fd, &datagram, 1)
            }
            if count == 1 {
                return ByteBuffer(bytes: bytes[0..<Int(datagram.length)])
            }
            usleep(10_000)
            waited += 10
        }
        return nil
    }
}

/// Sends as fast as the sockets take, round-robin over the sessions, and drains every socket in between. Both
/// relays get the same load: batches of 32 datagrams, each batch one UDP GSO send.
struct Blaster {
    static let batch = 32
    /// Receive space per datagram: a GRO receive coalesces up to 64 KiB.
    static let slot = 65_536

    let sessions: [Session]
    let relay: IPSocketAddress
    let payload: Int
    /// Whether to drain the client and peer sockets while sending.
    let receive: Bool
    /// Bursts per second and direction over all sessions; 0 for as fast as the sockets take them.
    let burstsPerSecond: Int

    struct Result {
        var sentToPeers = 0
        var receivedAtPeers = 0
        var sentToClients = 0
        var receivedAtClients = 0
        /// Datagrams that arrived with another length or other bytes than were sent: a relay that mangles data
        /// must not score.
        var malformed = 0
    }

    func run(seconds: Double) -> Result {
        var result = Result()
        // Channel data for the relay, and plain datagrams for the relayed addresses: the same payload size.
        var channelData = [UInt8](repeating: 0x5A, count: ChannelData.headerLength + self.payload)
        channelData[0] = UInt8(Session.channel >> 8)
        channelData[1] = UInt8(Session.channel & 0xFF)
        channelData[2] = UInt8(self.payload >> 8)
        channelData[3] = UInt8(self.payload & 0xFF)
        var plain = [UInt8](repeating: 0xA5, count: self.payload)
        var scratch = [UInt8](repeating: 0, count: Self.batch * Self.slot)
        var outgoing = [fz_datagram](repeating: fz_datagram(), count: Self.batch)
        var incoming = [fz_datagram](repeating: fz_datagram(), count: Self.batch)
        // What each end must receive: the peer the channel data's payload, the client the peer's datagram as
        // channel data.
        let peerExpected = Array(channelData[ChannelData.headerLength...])
        let clientExpected = Array(channelData.prefix(ChannelData.headerLength)) + plain
        // Each batch goes to one destination with equal lengths: one UDP GSO send, as a busy client's would.
        var gsoDisabled: UInt8 = 0

        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .nanoseconds(Int64(seconds * 1e9))
        var bursts = 0
        channelData.withUnsafeMutableBufferPointer { channelBytes in
            plain.withUnsafeMutableBufferPointer { plainBytes in
                scratch.withUnsafeMutableBufferPointer { scratchBytes in
                    while clock.now < end {
                        for session in self.sessions {
                            if self.burstsPerSecond > 0 {
                                // Paced: burst number n leaves n / rate seconds after the start, receiving meanwhile.
                                let due =
                                    start + .nanoseconds(Int64(Double(bursts) / Double(self.burstsPerSecond) * 1e9))
                                while clock.now < due {
                                    if self.receive {
                                        result.receivedAtPeers += Self.drain(
                                            session.peer,
                                            expecting: peerExpected,
                                            &incoming,
                                            scratchBytes,
                                            &result.malformed
                                        )
                                        result.receivedAtClients += Self.drain(
                                            session.client,
                                            expecting: clientExpected,
                                            &incoming,
                                            scratchBytes,
                                            &result.malformed
                                        )
                                    }
                                    usleep(100)
                                }
                                bursts += 1
                            }
                            var failed: UInt32 = 0
                            for index in 0..<Self.batch {
                                outgoing[index].bytes = channelBytes.baseAddress
                                outgoing[index].length = UInt32(channelBytes.count)
                                outgoing[index].setDestination(self.relay)
                            }
                            result.sentToPeers += max(
                                0,
                                Int(
                                    fz_udp_send_coalesced(
                                        session.client,
                                        &outgoing,
                                        UInt32(Self.batch),
                                        &failed,
                                        &gsoDisabled
                                    )
                                )
                            )
                            for index in 0..<Self.batch {
                                outgoing[index].bytes = plainBytes.baseAddress
                                outgoing[index].length = UInt32(plainBytes.count)
                                outgoing[index].setDestination(session.relayed)
                            }
                            result.sentToClients += max(
                                0,
                                Int(
                                    fz_udp_send_coalesced(
                                        session.peer,
                                        &outgoing,
                                        UInt32(Self.batch),
                                        &failed,
                                        &gsoDisabled
                                    )
                                )
                            )
                            guard self.receive else { continue }
                            result.receivedAtPeers += Self.drain(
                                session.peer,
                                expecting: peerExpected,
                                &incoming,
                                scratchBytes,
                                &result.malformed
                            )
                            result.receivedAtClients += Self.drain(
                                session.client,
                                expecting: clientExpected,
                                &incoming,
                                scratchBytes,
                                &result.malformed
                            )
                        }
                    }
                    // What is still in flight when the sending stops is counted too; with --send-only, something else counts.
                    guard self.receive else { return }
                    usleep(200_000)
                    for session in self.sessions {
                        result.receivedAtPeers += Self.drain(
                            session.peer,
                            expecting: peerExpected,
                            &incoming,
                            scratchBytes,
                            &result.malformed
                        )
                        result.receivedAtClients += Self.drain(
                            session.client,
                            expecting: clientExpected,
                            &incoming,
                            scratchBytes,
                            &result.malformed
                        )
                    }
                }
            }
        }
        return result
    }

    /// Receives everything waiting on `fd` and returns how many datagrams it held, counting each datagram of a
    /// GRO receive; every datagram is compared with `expected`.
    static func drain(
        _ fd: Int32,
        expecting expected: [UInt8],
        _ incoming: inout [fz_datagram],
        _ scratch: UnsafeMutableBufferPointer<UInt8>,
        _ malformed: inout Int
    ) -> Int {
        var total = 0
        while true {
            for index in 0..<Self.batch {
                incoming[index].bytes = scratch.baseAddress! + index * Self.slot
                incoming[index].capacity = UInt32(Self.slot)
            }
            let count = Int(fz_udp_receive_batch(fd, &incoming, UInt32(Self.batch)))
            guard count > 0 else { return total }
            for index in 0..<count {
                let length = Int(incoming[index].length)
                let segment = incoming[index].segment_size > 0 ? Int(incoming[index].segment_size) : length
                var offset = 0
                repeat {
                    let size = min(segment, length - offset)
                    let intact =
                        size == expected.count
                        && expected.withUnsafeBytes {
                            memcmp(incoming[index].bytes + offset, $0.baseAddress!, size) == 0
                        }
                    if !intact {
                        malformed += 1
                    }
                    total += 1
                    offset += segment
                } while offset < length
            }
        }
    }
}
