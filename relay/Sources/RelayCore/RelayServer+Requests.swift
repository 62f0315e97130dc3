import FirezoneTime
import IPPacket
import NIOCore
import STUN

extension RelayServer {
    mutating func handleSTUN(_ datagram: ByteBuffer, from client: ClientSocket, now: Instant) -> ClientInputResult {
        let message: STUNMessage
        do {
            message = try STUNMessage(decoding: datagram)
        } catch {
            self.stats.countDrop(.malformedSTUN)
            // As Firezone's relay (rust/relay/server/src/server.rs): a request whose attributes do not decode gets an unauthenticated 400.
            if let header = RequestHeader(datagram), self.admitsUnauthenticatedReply(to: client) {
                self.logger.debug("Malformed STUN request", metadata: ["stun.error": "\(error)"])
                self.send(
                    self.encode(method: header.method, transactionID: header.transactionID, error: .badRequest),
                    method: header.method,
                    error: .badRequest,
                    to: client
                )
                return .handled
            }
            return .dropped(.malformedSTUN)
        }
        guard message.type.class == .request else {
            self.stats.countDrop(.notARequest)
            return .dropped(.notARequest)
        }
        // RFC 8489 §6.3.1.1: unknown comprehension-required attributes get a 420 that lists them.
        if !message.unknownComprehensionRequiredAttributes.isEmpty {
            self.respond(
                to: message,
                from: client,
                error: .unknownAttribute,
                attributes: [.unknownAttributes(message.unknownComprehensionRequiredAttributes)],
                key: nil
            )
            return .handled
        }

        switch message.type.method {
        case .binding:
            // As Firezone's relay (rust/relay/server/src/server.rs): BINDING is answered without authentication.
            self.respond(to: message, from: client, attributes: [.xorMappedAddress(client.address)], key: nil)
        case .allocate:
            self.handleAllocate(message, from: client, now: now)
        case .refresh:
            self.handleRefresh(message, from: client, now: now)
        case .channelBind:
            self.handleChannelBind(message, from: client, now: now)
        case .createPermission:
            self.handleCreatePermission(message, from: client, now: now)
        default:
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: nil)
        }
        return .handled
    }

    // MARK: ALLOCATE

    /// RFC 8656 §7.2, with Firezone's choices in rust/relay/server/src/server.rs.
    private mutating func handleAllocate(_ message: STUNMessage, from client: ClientSocket, now: Instant) {
        guard let (key, username) = self.authenticate(message, from: client, now: now) else {
            return
        }
        if self.allocationByClient[client] != nil {
            self.respond(to: message, from: client, error: .allocationMismatch, attributes: [], key: key)
            return
        }
        guard message.requestedTransport == RelayConstants.udpTransport else {
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: key)
            return
        }
        // RFC 8656 §7.2: a reservation token names its port and family; it combines with neither EVEN-PORT nor
        // a family request, nor does a reserved pair with a second family.
        let token = message.reservationToken
        let evenPort = message.evenPort
        let asksForFamilies = message.requestedAddressFamily != nil || message.additionalAddressFamily != nil
        if token != nil && (evenPort != nil || asksForFamilies)
            || evenPort == true && message.additionalAddressFamily != nil
        {
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: key)
            return
        }
        let families: [IPVersion]
        if let token {
            // A token is redeemed by the username that reserved it, whose quota the port already counts against.
            guard let reservation = self.reservations[token], reservation.username == username else {
                self.respond(to: message, from: client, error: .insufficientCapacity, attributes: [], key: key)
                return
            }
            families = [reservation.family]
        } else {
            switch self.families(for: message) {
            case .success(let granted):
                families = granted
            case .failure(let error):
                self.respond(to: message, from: client, error: error.code, attributes: [], key: key)
                return
            }
            guard self.makeRoom(for: username, reserving: evenPort == true) else {
                self.respond(to: message, from: client, error: .allocationQuotaReached, attributes: [], key: key)
                return
            }
        }

        let port: AllocationPort
        var reservedToken: UInt64?
        if let token, let reservation = self.reservations[token] {
            self.forgetReservation(token)
            port = reservation.port
        } else if let even = evenPort {
            guard let found = self.freeEvenPort(reservingNext: even) else {
                self.respond(to: message, from: client, error: .insufficientCapacity, attributes: [], key: key)
                return
            }
            port = found
            if even {
                let reserved = Reservation(
                    port: AllocationPort(port.value + 1),
                    family: families[0],
                    username: username,
                    expiresAt: now + RelayConstants.reservationLifetime
                )
                let token = self.rng.next()
                self.reservations[token] = reserved
                self.reservedPorts.insert(reserved.port)
                self.holdingsByUsername[username, default: UsernameHoldings()].reservationTokens.insert(token)
                self.deadlines.insert(Deadline(at: reserved.expiresAt, kind: .reservationExpiry(token)))
                reservedToken = token
            }
        } else {
            guard let found = self.freePort() else {
                self.respond(to: message, from: client, error: .insufficientCapacity, attributes: [], key: key)
                return
            }
            port = found
        }

        let lifetime = Self.lifetime(requested: message.lifetime)
        var attributes = families.map { STUNAttribute.xorRelayedAddress(self.relayedAddress(port, family: $0)) }
        attributes.append(.xorMappedAddress(client.address))
        attributes.append(.lifetime(UInt32(lifetime.wholeSeconds)))
        if let reservedToken {
            attributes.append(.reservationToken(reservedToken))
        }
        // The response waits until the shell has opened the port on every family (see
        // ``handleAllocationPortOpened(_:_:now:)``): a client told of a relayed address that is not bound would
        // send into nothing.
        let opening = Allocation.Opening(
            success: self.encode(
                method: .allocate,
                transactionID: message.transactionID,
                error: nil,
                attributes: attributes,
                key: key
            ),
            failure: self.encode(
                method: .allocate,
                transactionID: message.transactionID,
                error: .insufficientCapacity,
                key: key
            )
        )
        let id = self.nextAllocationID
        self.nextAllocationID += 1
        let allocation = Allocation(
            id: id,
            client: client,
            port: port,
            username: username,
            families: families,
            expiresAt: now + lifetime,
            scheduledExpiry: now + lifetime,
            opening: opening
        )
        self.allocations[port] = allocation
        self.allocationByClient[client] = port
        self.holdingsByUsername[username, default: UsernameHoldings()].ports.insert(port)
        self.deadlines.insert(Deadline(at: allocation.expiresAt, kind: .allocationExpiry(port)))
        self.stats.allocations += 1
        for family in families {
            self.commands.append(.createAllocation(port, family))
            self.portsOpening.append(PortOpening(port: port, family: family, allocationID: id))
        }
    }

    /// Whether `username` may take one more allocation (and a reserved port with it); in portal mode it always
    /// may, as its new allocation replaces whatever it held.
    private mutating func makeRoom(for username: String, reserving: Bool) -> Bool {
        let holdings = self.holdingsByUsername[username] ?? UsernameHoldings()
        switch self.configuration.mode {
        case .portal:
            // Firezone's rule: one username is one client, and a client that roamed to a new socket replaces its
            // allocation. Its reservations go too, so that EVEN-PORT cannot chain allocations past the rule.
            for port in holdings.ports.sorted() {
                self.logger.debug(
                    "Replacing the allocation of a roaming client",
                    metadata: ["allocation.port": "\(port)"]
                )
                self.deleteAllocation(at: port)
            }
            for token in holdings.reservationTokens.sorted() {
                self.forgetReservation(token)
            }
            return true
        case .standalone:
            // RFC 8656 §7.2: a server may limit the allocations of one username, and answers 486 past the quota.
            return holdings.count + (reserving ? 2 : 1) <= self.configuration.limits.allocationsPerUsername
        }
    }

    private struct FamilyError: Error {
        var code: STUNErrorCode
    }

    /// RFC 8656 §7.2, as Firezone's relay does it: IPv4 unless asked otherwise; REQUESTED-ADDRESS-FAMILY picks one family,
    /// ADDITIONAL-ADDRESS-FAMILY (IPv6 only) asks for both and is granted in part on a single-stack relay.
    private func families(for message: STUNMessage) -> Result<[IPVersion], FamilyError> {
        let requested = message.requestedAddressFamily
        let additional = message.additionalAddressFamily
        if requested != nil, additional != nil {
            return .failure(FamilyError(code: .badRequest))
        }
        if additional == .v4 {
            return .failure(FamilyError(code: .badRequest))
        }
        if let requested {
            return self.serves(requested)
                ? .success([requested]) : .failure(FamilyError(code: .addressFamilyNotSupported))
        }
        let wanted: [IPVersion] = additional == .v6 ? [.v4, .v6] : [.v4]
        let granted = wanted.filter(self.serves)
        // Both asked for and only one possible is a partial success; nothing possible is 440.
        return granted.isEmpty ? .failure(FamilyError(code: .addressFamilyNotSupported)) : .success(granted)
    }

    func serves(_ family: IPVersion) -> Bool {
        switch family {
        case .v4: self.configuration.publicIPv4 != nil
        case .v6: self.configuration.publicIPv6 != nil
        }
    }

    func relayedAddress(_ port: AllocationPort, family: IPVersion) -> IPSocketAddress {
        switch family {
        case .v4: IPSocketAddress(.v4(self.configuration.publicIPv4!), port: port.value)
        case .v6: IPSocketAddress(.v6(self.configuration.publicIPv6!), port: port.value)
        }
    }

    /// RFC 8656 §7.2: min(requested, maximum), but never less than the default; the default when absent.
    static func lifetime(requested seconds: UInt32?) -> Duration {
        guard let seconds else {
            return RelayConstants.defaultAllocationLifetime
        }
        let requested = Duration.seconds(Int64(seconds))
        return max(min(requested, RelayConstants.maximumAllocationLifetime), RelayConstants.defaultAllocationLifetime)
    }

    /// A random free port in the range, the same for both families; nil when every port is taken.
    private mutating func freePort() -> AllocationPort? {
        var rng = self.rng
        defer { self.rng = rng }
        return self.findPort(step: 1, using: &rng) { self.isFree($0) }
    }

    /// RFC 8656 §7.2: an even free port, and with `reservingNext` a free port after it to hold.
    private mutating func freeEvenPort(reservingNext: Bool) -> AllocationPort? {
        let range = self.configuration.allocationPorts
        var rng = self.rng
        defer { self.rng = rng }
        return self.findPort(step: 2, using: &rng) { port in
            port.value % 2 == 0 && self.isFree(port)
                && (!reservingNext || port.value < range.upperBound && self.isFree(AllocationPort(port.value + 1)))
        }
    }

    private func isFree(_ port: AllocationPort) -> Bool {
        self.allocations[port] == nil && !self.reservedPorts.contains(port)
    }

    /// A few random draws, then one scan from a random start, so that a port is found whenever one fits.
    private func findPort(step: UInt32, using rng: inout RNG, where fits: (AllocationPort) -> Bool) -> AllocationPort? {
        let range = self.configuration.allocationPorts
        let count = UInt32(range.count)
        func port(at offset: UInt32) -> AllocationPort {
            var value = UInt32(range.lowerBound) + offset % count
            if step == 2, value % 2 == 1 {
                value = value == UInt32(range.upperBound) ? UInt32(range.lowerBound) : value + 1
            }
            return AllocationPort(UInt16(value))
        }
        for _ in 0..<RelayConstants.randomPortAttempts {
            let candidate = port(at: UInt32.random(in: 0..<count, using: &rng))
            if fits(candidate) {
                return candidate
            }
        }
        let start = UInt32.random(in: 0..<count, using: &rng)
        for offset in 0..<count {
            let candidate = port(at: start + offset)
            if fits(candidate) {
                return candidate
            }
        }
        return nil
    }

    // MARK: REFRESH

    /// RFC 8656 §7.3: a lifetime of zero deletes the allocation; any other extends it.
    private mutating func handleRefresh(_ message: STUNMessage, from client: ClientSocket, now: Instant) {
        guard let (key, username) = self.authenticate(message, from: client, now: now) else {
            return
        }
        guard let port = self.allocation(of: client, for: message, username: username, key: key) else {
            return
        }
        if message.lifetime == 0 {
            self.logger.info("Allocation deleted by its client", metadata: ["allocation.port": "\(port)"])
            self.deleteAllocation(at: port)
            self.respond(to: message, from: client, attributes: [.lifetime(0)], key: key)
            return
        }
        let lifetime = Self.lifetime(requested: message.lifetime)
        self.setExpiry(of: port, to: now + lifetime)
        self.respond(to: message, from: client, attributes: [.lifetime(UInt32(lifetime.wholeSeconds))], key: key)
    }

    /// The port of the client's allocation, or nil after answering 437 (there is none) or 441.
    ///
    /// RFC 8656 §5: requests about an allocation must carry the username that created it; any other gets 441
    /// Wrong Credentials, and nothing changes. Without it, anyone holding a credential could delete or redirect
    /// another user's allocation by spoofing its client's address.
    private mutating func allocation(
        of client: ClientSocket,
        for message: STUNMessage,
        username: String,
        key: [UInt8]
    ) -> AllocationPort? {
        guard let port = self.allocationByClient[client], let allocation = self.allocations[port] else {
            self.respond(to: message, from: client, error: .allocationMismatch, attributes: [], key: key)
            return nil
        }
        guard allocation.username == username else {
            self.respond(to: message, from: client, error: .wrongCredentials, attributes: [], key: key)
            return nil
        }
        return port
    }

    // MARK: CHANNEL-BIND

    /// RFC 8656 §11.2, as Firezone's relay does it.
    private mutating func handleChannelBind(_ message: STUNMessage, from client: ClientSocket, now: Instant) {
        guard let (key, username) = self.authenticate(message, from: client, now: now) else {
            return
        }
        guard let number = message.channelNumber, let peerAddress = message.xorPeerAddress,
            RelayConstants.channelNumbers.contains(number)
        else {
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: key)
            return
        }
        guard let port = self.allocation(of: client, for: message, username: username, key: key),
            let allocation = self.allocations[port]
        else {
            return
        }
        guard allocation.serves(peerAddress.address.version) else {
            self.respond(to: message, from: client, error: .peerAddressFamilyMismatch, attributes: [], key: key)
            return
        }
        guard self.permits(peerAddress) else {
            self.respond(to: message, from: client, error: .forbidden, attributes: [], key: key)
            return
        }

        let channel = ChannelNumber(number)
        let peer = PeerSocket(peerAddress)
        let clientChannel = ClientChannel(client: client, channel: channel)
        // RFC 8656 §11.2: the number may not be bound to another peer, nor the peer to another number, until the
        // earlier binding has been gone for the reuse delay.
        let existing = self.channels[clientChannel]
        if let existing, existing.peer != peer {
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: key)
            return
        }
        if let other = self.channelByPeer[PortAndPeer(port: port, peer: peer)], other != clientChannel {
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: key)
            return
        }
        // A binding the relay has no room for gets 508 Insufficient Capacity, the code RFC 8656 gives a server out
        // of resources. A refresh of a held binding is never refused.
        let limits = self.configuration.limits
        let full =
            allocation.channels.count >= limits.channelBindingsPerAllocation
            || self.channels.count >= limits.channelBindings
        if existing == nil, full {
            self.respond(to: message, from: client, error: .insufficientCapacity, attributes: [], key: key)
            return
        }

        let expiresAt = now + RelayConstants.channelBindingLifetime
        if var binding = existing {
            let wasBound = binding.isBound
            binding.state = .bound(expiresAt: expiresAt)
            self.channels[clientChannel] = binding
            if wasBound {
                self.commands.append(
                    .refreshChannelBinding(
                        client: binding.client,
                        channel: binding.channel,
                        peer: binding.peer,
                        port: binding.port
                    )
                )
            } else {
                self.announceBinding(binding)
            }
        } else {
            let binding = ChannelBinding(
                client: client,
                channel: channel,
                peer: peer,
                port: port,
                state: .bound(expiresAt: expiresAt),
                scheduled: expiresAt
            )
            self.channels[clientChannel] = binding
            self.channelByPeer[PortAndPeer(port: port, peer: peer)] = clientChannel
            self.allocations[port]?.channels.insert(channel)
            self.deadlines.insert(Deadline(at: expiresAt, kind: .channel(clientChannel)))
            self.announceBinding(binding)
        }
        self.respond(to: message, from: client, attributes: [], key: key)
    }

    private mutating func announceBinding(_ binding: ChannelBinding) {
        self.stats.channels += 1
        self.commands.append(
            .createChannelBinding(
                client: binding.client,
                channel: binding.channel,
                peer: binding.peer,
                port: binding.port
            )
        )
        self.logger.debug(
            "Channel bound",
            metadata: ["allocation.port": "\(binding.port)", "channel": "\(binding.channel)"]
        )
    }

    // MARK: CREATE-PERMISSION

    /// RFC 8656 §10.2. As in Firezone's relay, only channels relay data, so permissions are checked and answered but not
    /// kept.
    private mutating func handleCreatePermission(_ message: STUNMessage, from client: ClientSocket, now: Instant) {
        guard let (key, username) = self.authenticate(message, from: client, now: now) else {
            return
        }
        let peers = message.attributes.compactMap { if case .xorPeerAddress(let peer) = $0 { peer } else { nil } }
        guard !peers.isEmpty else {
            self.respond(to: message, from: client, error: .badRequest, attributes: [], key: key)
            return
        }
        guard let port = self.allocation(of: client, for: message, username: username, key: key),
            let allocation = self.allocations[port]
        else {
            return
        }
        guard peers.allSatisfy({ allocation.serves($0.address.version) }) else {
            self.respond(to: message, from: client, error: .peerAddressFamilyMismatch, attributes: [], key: key)
            return
        }
        guard peers.allSatisfy(self.permits) else {
            self.respond(to: message, from: client, error: .forbidden, attributes: [], key: key)
            return
        }
        self.respond(to: message, from: client, attributes: [], key: key)
    }

    // MARK: Peers

    /// Whether the relay relays to `peer` (RFC 8656 §21, security considerations: a relay must not become a way into
    /// its own host or network). The relay's own public addresses are peers on allocation ports only: that is how two
    /// clients of one relay reach each other (and the XDP datapath's relay-to-relay loopback), while its listening
    /// port and every other service on the host stay out of reach.
    func permits(_ peer: IPSocketAddress) -> Bool {
        guard peer.port != 0 else {
            return false
        }
        let isOwnAddress: Bool =
            switch peer.address {
            case .v4(let address): address == self.configuration.publicIPv4
            case .v6(let address): address == self.configuration.publicIPv6
            }
        if isOwnAddress {
            return peer.port != self.configuration.listenPort && self.configuration.allocationPorts.contains(peer.port)
        }
        return !RelayConstants.isNeverPeer(peer.address)
            && !self.configuration.deniedPeerRanges.contains { $0.contains(peer.address) }
    }

    // MARK: Authentication

    /// The long-term key and username of an authenticated request, or nil after queueing the 401 or 438 that
    /// refuses it.
    ///
    /// The checks run in the order of Firezone 685acdac3a's rust/relay/server/src/server.rs: MESSAGE-INTEGRITY, USERNAME, a nonce of
    /// our form (else 401), a nonce still valid (else 438), an unexpired username and a matching integrity (else
    /// 401). Every refusal carries the realm and a fresh nonce.
    private mutating func authenticate(
        _ message: STUNMessage,
        from client: ClientSocket,
        now: Instant
    )
        -> (key: [UInt8], username: String)?
    {
        guard message.hasMessageIntegrity, let username = message.username, let nonce = message.nonce else {
            self.refuse(message, from: client, error: .unauthorized, now: now)
            return nil
        }
        switch self.nonces.check(nonce, unixTime: self.unixTime(at: now)) {
        case .valid:
            break
        case .malformed:
            self.refuse(message, from: client, error: .unauthorized, now: now)
            return nil
        case .stale:
            self.refuse(message, from: client, error: .staleNonce, now: now)
            return nil
        }
        guard let expiry = RelayCredentials.expiry(of: username),
            Duration.seconds(Int64(clamping: expiry)) >= self.unixTime(at: now),
            let password = RelayCredentials.password(username: username, secret: self.configuration.authSecret)
        else {
            self.refuse(message, from: client, error: .unauthorized, now: now)
            return nil
        }
        let key = LongTermCredentials.key(username: username, realm: RelayConstants.realm, password: password)
        guard message.verifyMessageIntegrity(key: key) else {
            self.refuse(message, from: client, error: .unauthorized, now: now)
            return nil
        }
        return (key, username)
    }

    private mutating func refuse(
        _ message: STUNMessage,
        from client: ClientSocket,
        error: STUNErrorCode,
        now: Instant
    ) {
        guard self.admitsUnauthenticatedReply(to: client) else {
            return
        }
        let nonce = self.nonces.issue(unixTime: self.unixTime(at: now))
        let response = self.encode(
            method: message.type.method,
            transactionID: message.transactionID,
            error: error,
            attributes: [.realm(RelayConstants.realm), .nonce(nonce)]
        )
        self.send(response, method: message.type.method, error: error, to: client)
    }

    // MARK: Responses

    /// Queues the success or error response to `message`, with SOFTWARE, and MESSAGE-INTEGRITY when `key` is
    /// given (the request authenticated). No FINGERPRINT: Firezone's TURN messages carry none (Firezone's rust/connlib/snownet/src/allocation.rs).
    /// A response without a key goes out only within the source's rate (``RelayLimits``).
    mutating func respond(
        to message: STUNMessage,
        from client: ClientSocket,
        error: STUNErrorCode? = nil,
        attributes: [STUNAttribute],
        key: [UInt8]?
    ) {
        if key == nil, !self.admitsUnauthenticatedReply(to: client) {
            return
        }
        let response = self.encode(
            method: message.type.method,
            transactionID: message.transactionID,
            error: error,
            attributes: attributes,
            key: key
        )
        self.send(response, method: message.type.method, error: error, to: client)
    }

    /// Whether the client's prefix may have another unauthenticated reply now; counts the drop if not.
    private mutating func admitsUnauthenticatedReply(to client: ClientSocket) -> Bool {
        guard self.replyLimiter.admit(client.address.address, now: self.lastNow) else {
            self.stats.countDrop(.rateLimited)
            return false
        }
        return true
    }

    mutating func send(_ response: ByteBuffer, method: STUNMethod, error: STUNErrorCode?, to client: ClientSocket) {
        self.stats.responses[RelayStats.ResponseKey(method: method.rawValue, errorCode: error?.code), default: 0] += 1
        self.commands.append(.sendMessage(response, to: client))
    }

    func encode(
        method: STUNMethod,
        transactionID: TransactionID,
        error: STUNErrorCode?,
        attributes: [STUNAttribute] = [],
        key: [UInt8]? = nil
    ) -> ByteBuffer {
        var all = attributes
        if let error {
            all.insert(.errorCode(error), at: 0)
        }
        all.append(.software(self.configuration.software))
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: method, class: error == nil ? .successResponse : .errorResponse),
            transactionID: transactionID,
            attributes: all,
            messageIntegrityKey: key,
            fingerprint: false,
            into: &buffer
        )
        return buffer
    }
}

/// The method and transaction of a request whose attributes did not decode (RFC 8489 §5 header layout).
struct RequestHeader {
    var method: STUNMethod
    var transactionID: TransactionID

    init?(_ datagram: ByteBuffer) {
        let base = datagram.readerIndex
        guard datagram.readableBytes >= 20,
            let type = datagram.getInteger(at: base, as: UInt16.self), type & 0xC000 == 0,
            datagram.getInteger(at: base + 4, as: UInt32.self) == 0x2112_A442,
            let transaction = datagram.getBytes(at: base + 8, length: 12)
        else {
            return nil
        }
        // RFC 8489 §5: the class bits are 0x0100 and 0x0010; both zero is a request.
        guard type & 0x0110 == 0 else {
            return nil
        }
        let method = (type & 0x000F) | (type & 0x00E0) >> 1 | (type & 0x3E00) >> 2
        self.method = STUNMethod(rawValue: method)
        self.transactionID = TransactionID(bytes: transaction)
    }
}
