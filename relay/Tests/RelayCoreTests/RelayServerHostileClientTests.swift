import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import RelayCore
import STUN
import Testing

/// Unauthenticated senders, spoofed or not, cost the relay bounded memory and earn bounded replies.
struct RelayServerUnauthenticatedTrafficTests {
    /// A flood of ALLOCATEs from random spoofed sources, with a legitimate client allocating and relaying in the
    /// middle of it: the core's tables stay within their limits whatever the flood's size.
    @Test(arguments: TestSeeds.seeds(count: 1))
    func aFloodFromSpoofedSourcesLeavesStateBounded(seed: UInt64) throws {
        var limits = RelayLimits()
        limits.rateLimitedPrefixes = 1_024
        var relay = RelayHarness(seed: seed, limits: limits)
        var sources = SeededRandomNumberGenerator(seed: seed)
        var request = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .allocate, class: .request),
            transactionID: TransactionID(using: &relay.rng),
            attributes: [.requestedTransport(17)],
            messageIntegrityKey: nil,
            fingerprint: false,
            into: &request
        )
        let floodSize = 200_000
        let alice = client("198.51.100.7:40000")
        let bob = peer("192.0.2.9:5000")
        var answered = 0
        for index in 0..<floodSize {
            if index == floodSize / 2 {
                let port = try relay.allocate(alice)
                #expect(try relay.bind(alice, channel: 0x4000, to: bob).type.class == .successResponse)
                let forwarded = relay.server.handleClientInput(channelData(0x4000, "hi"), from: alice, now: relay.now)
                #expect(forwarded == .forward(payload: ByteBuffer(string: "hi"), from: port, to: bob))
            }
            let random = sources.next()
            let address: IPAddress =
                random & 1 == 0
                ? .v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: random >> 32)))
                : .v6(IPv6Address(high: random, low: sources.next()))
            let source = ClientSocket(IPSocketAddress(address, port: UInt16(truncatingIfNeeded: random >> 8) | 1))
            #expect(relay.server.handleClientInput(request, from: source, now: relay.now) == .handled)
            while let command = relay.server.pollCommand() {
                guard case .sendMessage = command else {
                    Issue.record("the flood made the relay do \(command)")
                    continue
                }
                answered += 1
            }
            if index % 1_000 == 999 {
                relay.now += .milliseconds(10)
            }
        }
        let sizes = relay.server.stateSizes
        let replayHint = Comment(rawValue: TestSeeds.replayHint(seed))
        #expect(sizes.allocations == 1 && sizes.channels == 1 && sizes.usernames == 1, replayHint)
        #expect(sizes.deadlines == 2 && sizes.reservations == 0 && sizes.portsOpening == 0, replayHint)
        #expect(sizes.rateLimitedPrefixes <= limits.rateLimitedPrefixes, replayHint)
        // Random sources rarely share a prefix, so nearly every one is answered once.
        #expect(answered > floodSize * 9 / 10, replayHint)
    }

    @Test func repliesToUnauthenticatedRequestsAreRateLimitedPerSourcePrefix() throws {
        var limits = RelayLimits()
        limits.unauthenticatedReplyBurst = 8
        limits.unauthenticatedRepliesPerSecond = 4
        var relay = RelayHarness(limits: limits)

        func answered(_ method: STUNMethod, from source: ClientSocket, count: Int) -> Int {
            var request = ByteBuffer()
            STUNMessageEncoder.encode(
                type: STUNMessageType(method: method, class: .request),
                transactionID: TransactionID(using: &relay.rng),
                attributes: method == .allocate ? [.requestedTransport(17)] : [],
                messageIntegrityKey: nil,
                fingerprint: false,
                into: &request
            )
            var replies = 0
            for _ in 0..<count {
                _ = relay.server.handleClientInput(request, from: source, now: relay.now)
                replies += relay.drain().count
            }
            return replies
        }

        // An authenticated client in the prefix, with its nonce, before the prefix runs out.
        let alice = client("198.51.100.7:40000")
        _ = try relay.allocate(alice)
        let nonce = try #require(try relay.request(.refresh, from: alice).nonce)

        #expect(answered(.binding, from: client("198.51.100.8:1"), count: 10) == 6)
        #expect(answered(.allocate, from: client("198.51.100.200:2"), count: 3) == 0, "one /24 shares one budget")
        #expect(answered(.binding, from: client("198.51.101.8:1"), count: 3) == 3, "another /24 has its own")
        #expect(relay.server.stats.drops(.rateLimited) == 7)

        // Authenticated requests are answered whatever the prefix's budget: their replies go to a credential holder.
        let (username, password) = RelayHarness.credentials()
        let key = LongTermCredentials.key(username: username, realm: "firezone", password: password)
        let refresh = try relay.request(
            .refresh,
            from: alice,
            attributes: [.username(username), .realm("firezone"), .nonce(nonce)],
            key: key
        )
        #expect(refresh.type.class == .successResponse)

        relay.now += .seconds(1)
        #expect(answered(.binding, from: client("198.51.100.8:1"), count: 10) == 4, "four a second refill")

        // IPv6 sources share a /56.
        #expect(answered(.binding, from: client("[2001:db8:0:100::1]:1"), count: 6) == 6)
        #expect(answered(.binding, from: client("[2001:db8:0:1ff::9]:1"), count: 6) == 2)
        #expect(answered(.binding, from: client("[2001:db8:0:200::1]:1"), count: 1) == 1)
    }
}

/// RFC 8656 §5: an allocation belongs to the username that created it.
struct RelayServerCredentialBindingTests {
    let alice = client("198.51.100.7:40000")
    let owner = RelayHarness.credentials(salt: "owner")
    let intruder = RelayHarness.credentials(salt: "intruder")

    @Test func requestsWithAnotherUsernameGet441AndChangeNothing() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice, credentials: self.owner)
        _ = relay.drain()

        var commands: [RelayCommand] = []
        let bind = try relay.authenticated(
            .channelBind,
            from: self.alice,
            attributes: [.channelNumber(0x4000), .xorPeerAddress(IPSocketAddress("192.0.2.66:1")!)],
            credentials: self.intruder,
            otherCommands: &commands
        )
        #expect(bind.errorCode?.code == 441)
        let permission = try relay.authenticated(
            .createPermission,
            from: self.alice,
            attributes: [.xorPeerAddress(IPSocketAddress("192.0.2.66:1")!)],
            credentials: self.intruder,
            otherCommands: &commands
        )
        #expect(permission.errorCode?.code == 441)
        let refresh = try relay.authenticated(
            .refresh,
            from: self.alice,
            attributes: [.lifetime(0)],
            credentials: self.intruder,
            otherCommands: &commands
        )
        #expect(refresh.errorCode?.code == 441)
        #expect(commands.isEmpty, "no port closed, no binding made")
        #expect(relay.server.stats.allocations == 1 && relay.server.stats.channels == 0)

        #expect(try relay.authenticated(.refresh, from: self.alice, credentials: self.owner).lifetime == 600)
        relay.advance(by: .seconds(599))
        #expect(relay.drain().isEmpty)
        relay.advance(by: .seconds(1))
        #expect(relay.drain() == [.freeAllocation(port, .v4)])
    }

    /// One credential is one username: a non-canonical expiry (same password, since the password hashes the
    /// parsed number) must not pass as another username with its own quota.
    @Test(arguments: ["+1685990000", "01685990000", "001685990000"])
    func aNonCanonicalExpiryIsRefused(expiry: String) throws {
        var relay = RelayHarness()
        let canonical = RelayHarness.credentials()
        let username = expiry + ":salt"
        let response = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17)],
            credentials: (username, canonical.password)
        )
        #expect(response.errorCode?.code == 401)
    }
}

/// Allocations per username: Firezone's replacement when joined to a portal, a quota when standalone.
struct RelayServerQuotaTests {
    static let credentials = RelayHarness.credentials(salt: "app")

    static func socket(_ index: Int) -> ClientSocket {
        client("198.51.100.\(index + 1):4\(index % 10)000")
    }

    @Test func aStandaloneRelayAllowsSixteenAllocationsPerUsernameThen486() throws {
        var relay = RelayHarness()
        #expect(RelayLimits().allocationsPerUsername == 16)
        for index in 0..<16 {
            _ = try relay.allocate(Self.socket(index), credentials: Self.credentials)
        }
        #expect(relay.server.stats.allocations == 16, "none replaced another")
        let seventeenth = try relay.authenticated(
            .allocate,
            from: Self.socket(16),
            attributes: [.requestedTransport(17)],
            credentials: Self.credentials
        )
        #expect(seventeenth.errorCode?.code == 486)
        // Another username is not held back by this one's quota, and a freed allocation makes room.
        _ = try relay.allocate(Self.socket(17), credentials: RelayHarness.credentials(salt: "other"))
        _ = try relay.authenticated(
            .refresh,
            from: Self.socket(0),
            attributes: [.lifetime(0)],
            credentials: Self.credentials
        )
        _ = try relay.allocate(Self.socket(16), credentials: Self.credentials)
    }

    @Test func reservedPortsCountAgainstTheQuota() throws {
        var limits = RelayLimits()
        limits.allocationsPerUsername = 3
        var relay = RelayHarness(limits: limits)
        let paired = try relay.authenticated(
            .allocate,
            from: Self.socket(0),
            attributes: [.requestedTransport(17), .evenPort(reserve: true)],
            credentials: Self.credentials
        )
        let token = try #require(paired.reservationToken)
        _ = try relay.allocate(Self.socket(1), credentials: Self.credentials)
        let fourth = try relay.authenticated(
            .allocate,
            from: Self.socket(2),
            attributes: [.requestedTransport(17)],
            credentials: Self.credentials
        )
        #expect(fourth.errorCode?.code == 486, "two allocations and a reservation")
        // Another username cannot redeem the token; its owner can, within the quota the port already counted in.
        let stolen = try relay.authenticated(
            .allocate,
            from: Self.socket(3),
            attributes: [.requestedTransport(17), .reservationToken(token)],
            credentials: RelayHarness.credentials(salt: "other")
        )
        #expect(stolen.errorCode?.code == 508)
        let redeemed = try relay.authenticated(
            .allocate,
            from: Self.socket(3),
            attributes: [.requestedTransport(17), .reservationToken(token)],
            credentials: Self.credentials
        )
        #expect(redeemed.type.class == .successResponse)
        #expect(relay.server.stats.allocations == 3)
    }

    /// In portal mode a username holds at most a reserved pair: a new ALLOCATE replaces both, so EVEN-PORT cannot
    /// chain allocations past the replacement rule.
    @Test func aPortalUsernameCannotChainReservationsPastReplacement() throws {
        var relay = RelayHarness(mode: .portal)
        for round in 0..<4 {
            let paired = try relay.authenticated(
                .allocate,
                from: Self.socket(2 * round),
                attributes: [.requestedTransport(17), .evenPort(reserve: true)],
                credentials: Self.credentials
            )
            let token = try #require(paired.reservationToken)
            let redeemed = try relay.authenticated(
                .allocate,
                from: Self.socket(2 * round + 1),
                attributes: [.requestedTransport(17), .reservationToken(token)],
                credentials: Self.credentials
            )
            #expect(redeemed.type.class == .successResponse)
            #expect(relay.server.stats.allocations == 2, "round \(round)")
        }
        // A plain ALLOCATE replaces the pair, and forgets an unredeemed reservation.
        _ = try relay.authenticated(
            .allocate,
            from: Self.socket(20),
            attributes: [.requestedTransport(17), .evenPort(reserve: true)],
            credentials: Self.credentials
        )
        _ = try relay.allocate(Self.socket(21), credentials: Self.credentials)
        #expect(relay.server.stats.allocations == 1)
        #expect(relay.server.stateSizes.reservations == 0)
    }
}

/// Channel bindings are limited per allocation and relay-wide; refreshing one keeps one deadline.
struct RelayServerBindingLimitTests {
    let alice = client("198.51.100.7:40000")
    let bob = client("198.51.100.8:40000")

    @Test func bindingsPastTheLimitsGet508() throws {
        #expect(RelayLimits().channelBindings < 65_536, "every bound channel fits in the XDP maps")
        var limits = RelayLimits()
        limits.channelBindingsPerAllocation = 2
        limits.channelBindings = 3
        var relay = RelayHarness(limits: limits)
        _ = try relay.allocate(
            self.alice,
            attributes: [.lifetime(3600)],
            credentials: RelayHarness.credentials(salt: "a")
        )
        _ = try relay.allocate(
            self.bob,
            attributes: [.lifetime(3600)],
            credentials: RelayHarness.credentials(salt: "b")
        )
        func bind(_ client: ClientSocket, _ channel: UInt16, _ salt: String) throws -> UInt16? {
            try relay.authenticated(
                .channelBind,
                from: client,
                attributes: [
                    .channelNumber(channel), .xorPeerAddress(IPSocketAddress("192.0.2.\(channel & 0xFF):9")!),
                ],
                credentials: RelayHarness.credentials(salt: salt)
            ).errorCode?.code
        }
        #expect(try bind(self.alice, 0x4000, "a") == nil)
        #expect(try bind(self.alice, 0x4001, "a") == nil)
        #expect(try bind(self.alice, 0x4002, "a") == 508, "per allocation")
        #expect(try bind(self.alice, 0x4001, "a") == nil, "a refresh is never refused")
        #expect(try bind(self.bob, 0x4010, "b") == nil)
        #expect(try bind(self.bob, 0x4011, "b") == 508, "relay-wide")

        // A lapsed binding holds its place through the reuse delay, then frees it.
        relay.advance(by: .seconds(600))
        #expect(relay.server.stats.channels == 0)
        #expect(try bind(self.bob, 0x4011, "b") == 508)
        relay.advance(by: .seconds(300))
        #expect(try bind(self.bob, 0x4011, "b") == nil)
    }

    @Test func refreshingTenThousandTimesLeavesOneDeadlineEach() throws {
        var relay = RelayHarness()
        _ = try relay.allocate(self.alice, attributes: [.lifetime(3600)])
        let peerAddress = IPSocketAddress("192.0.2.9:5000")!
        let challenge = try relay.request(.refresh, from: self.alice)
        let (username, password) = RelayHarness.credentials()
        let key = LongTermCredentials.key(username: username, realm: "firezone", password: password)
        let auth: [STUNAttribute] = [.username(username), .realm("firezone"), .nonce(try #require(challenge.nonce))]
        for round in 0..<10_000 {
            relay.now += .milliseconds(5)
            let bind = try relay.request(
                .channelBind,
                from: self.alice,
                attributes: [.channelNumber(0x4000), .xorPeerAddress(peerAddress)] + auth,
                key: key
            )
            let refresh = try relay.request(.refresh, from: self.alice, attributes: [.lifetime(3600)] + auth, key: key)
            try #require(
                bind.type.class == .successResponse && refresh.type.class == .successResponse,
                "round \(round)"
            )
        }
        #expect(relay.server.stateSizes.deadlines == 2)

        // The last refresh still decides: the binding lapses 600 s after it, the allocation 3600 s after it.
        let lastRefresh = relay.now
        relay.advance(by: .seconds(599))
        #expect(relay.server.stats.channels == 1)
        relay.advance(by: .seconds(1))
        #expect(relay.server.stats.channels == 0)
        relay.now = lastRefresh + .seconds(3599)
        relay.server.handleTimeout(now: relay.now)
        #expect(relay.server.stats.allocations == 1)
        relay.advance(by: .seconds(1))
        #expect(relay.server.stats.allocations == 0)
    }

    @Test func aRefreshThatShortensTheLifetimeTakesEffect() throws {
        var relay = RelayHarness()
        _ = try relay.allocate(self.alice, attributes: [.lifetime(3600)])
        #expect(try relay.authenticated(.refresh, from: self.alice, attributes: [.lifetime(600)]).lifetime == 600)
        #expect(relay.server.pollTimeout()?.deadline == .zero + .seconds(600))
        relay.advance(by: .seconds(600))
        #expect(relay.server.stats.allocations == 0)
    }
}

/// Peers the relay refuses (RFC 8656 §21): its own host, and addresses no remote peer can have.
struct RelayServerPeerPolicyTests {
    let alice = client("198.51.100.7:40000")

    @Test(arguments: [
        "127.0.0.1:5000", "0.0.0.0:5000", "169.254.169.254:80", "224.0.0.1:5000", "255.255.255.255:9", "192.0.2.9:0",
        "[::1]:5000", "[::]:5000", "[::ffff:192.0.2.9]:5000", "[fe80::1]:5000", "[ff02::1]:5000",
        "203.0.113.1:3478", "203.0.113.1:22", "[2001:db8::1]:3478",
    ])
    func refusesPeersThatAreNeverRemoteOrAreTheRelaysOwnServices(peer: String) throws {
        var relay = RelayHarness()
        let address = try #require(IPSocketAddress(peer))
        _ = try relay.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        _ = relay.drain()
        var commands: [RelayCommand] = []
        let bind = try relay.authenticated(
            .channelBind,
            from: self.alice,
            attributes: [.channelNumber(0x4000), .xorPeerAddress(address)],
            otherCommands: &commands
        )
        #expect(bind.errorCode?.code == 403)
        #expect(commands.isEmpty)
        let permission = try relay.authenticated(
            .createPermission,
            from: self.alice,
            attributes: [.xorPeerAddress(address)]
        )
        #expect(permission.errorCode?.code == 403)
    }

    @Test(arguments: ["203.0.113.1:50000", "[2001:db8::1]:65535", "10.0.0.5:5000", "[fd00::1]:5000", "192.0.2.9:5000"])
    func allowsTheRelaysOwnAllocationPortsAndPrivateAddresses(peer: String) throws {
        var relay = RelayHarness()
        _ = try relay.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        let address = try #require(IPSocketAddress(peer))
        #expect(try relay.bind(self.alice, channel: 0x4000, to: PeerSocket(address)).type.class == .successResponse)
    }

    @Test func refusesConfiguredRanges() throws {
        let denied = try ["10.0.0.0/8", "fd00::/8"].map { try IPNetwork(parsing: $0) }
        var relay = RelayHarness(deniedPeerRanges: denied)
        _ = try relay.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        #expect(try relay.bind(self.alice, channel: 0x4000, to: peer("10.255.0.1:5000")).errorCode?.code == 403)
        #expect(try relay.bind(self.alice, channel: 0x4000, to: peer("[fd12::1]:5000")).errorCode?.code == 403)
        #expect(try relay.bind(self.alice, channel: 0x4000, to: peer("11.0.0.1:5000")).type.class == .successResponse)
    }

    /// A configured range refuses exactly its prefix, in its own family: the edges of a /31 and a /127, and a
    /// whole family (`::/0`) that leaves the other one allowed.
    @Test func configuredRangesMatchTheirPrefixInTheirFamily() throws {
        let denied = try ["192.0.2.0/31", "2001:db8:5::/127", "::/0"].map { try IPNetwork(parsing: $0) }
        var relay = RelayHarness(deniedPeerRanges: Array(denied.prefix(2)))
        _ = try relay.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        #expect(try relay.bind(self.alice, channel: 0x4000, to: peer("192.0.2.1:5000")).errorCode?.code == 403)
        #expect(try relay.bind(self.alice, channel: 0x4000, to: peer("[2001:db8:5::1]:5000")).errorCode?.code == 403)
        #expect(try relay.bind(self.alice, channel: 0x4000, to: peer("192.0.2.2:5000")).type.class == .successResponse)
        let beyondTheIPv6Range = try relay.bind(self.alice, channel: 0x4001, to: peer("[2001:db8:5::2]:5000"))
        #expect(beyondTheIPv6Range.type.class == .successResponse)

        var noIPv6 = RelayHarness(deniedPeerRanges: [denied[2]])
        _ = try noIPv6.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        #expect(try noIPv6.bind(self.alice, channel: 0x4000, to: peer("[2001:db8:7::1]:5000")).errorCode?.code == 403)
        #expect(try noIPv6.bind(self.alice, channel: 0x4000, to: peer("192.0.2.9:5000")).type.class == .successResponse)
    }
}

/// An ALLOCATE is answered only once the shell has bound its ports.
struct RelayServerPortOpeningTests {
    let alice = client("198.51.100.7:40000")

    /// Sends an authenticated ALLOCATE asking for both families and returns what the relay did at once.
    func allocate(_ relay: inout RelayHarness) throws -> [RelayCommand] {
        let nonce = try #require(
            try relay.request(.allocate, from: self.alice, attributes: [.requestedTransport(17)]).nonce
        )
        let (username, password) = RelayHarness.credentials()
        let key = LongTermCredentials.key(username: username, realm: "firezone", password: password)
        var request = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .allocate, class: .request),
            transactionID: TransactionID(using: &relay.rng),
            attributes: [
                .requestedTransport(17), .additionalAddressFamily(.v6), .username(username), .realm("firezone"),
                .nonce(nonce),
            ],
            messageIntegrityKey: key,
            fingerprint: false,
            into: &request
        )
        #expect(relay.server.handleClientInput(request, from: self.alice, now: relay.now) == .handled)
        return relay.drain()
    }

    @Test func theSuccessResponseWaitsForEveryFamilysPort() throws {
        var relay = RelayHarness(ports: 50000...50000)
        relay.opensPorts = false
        let port = AllocationPort(50000)
        #expect(try self.allocate(&relay) == [.createAllocation(port, .v4), .createAllocation(port, .v6)])
        relay.server.handleAllocationPortOpened(port, .v4, now: relay.now)
        #expect(relay.drain().isEmpty)
        relay.server.handleAllocationPortOpened(port, .v6, now: relay.now)
        let commands = relay.drain()
        guard commands.count == 1, case .sendMessage(let bytes, self.alice) = commands[0] else {
            Issue.record("expected the response alone, got \(commands)")
            return
        }
        let response = try STUNMessage(decoding: bytes)
        #expect(response.type.class == .successResponse)
        #expect(response.xorRelayedAddresses.map(\.port) == [50000, 50000])
    }

    @Test func aPortTheShellCannotOpenIs508AndFreesThePort() throws {
        var relay = RelayHarness(ports: 50000...50000)
        relay.opensPorts = false
        let port = AllocationPort(50000)
        _ = try self.allocate(&relay)
        relay.server.handleAllocationPortOpened(port, .v4, now: relay.now)
        relay.server.handleAllocationPortFailed(port, .v6, now: relay.now)
        let commands = relay.drain()
        guard commands.count == 2, case .sendMessage(let bytes, self.alice) = commands[1] else {
            Issue.record("expected the v4 port closed and a response, got \(commands)")
            return
        }
        #expect(commands[0] == .freeAllocation(port, .v4))
        #expect(try STUNMessage(decoding: bytes).errorCode?.code == 508)
        #expect(relay.server.stats.allocations == 0 && relay.server.stateSizes.usernames == 0)

        // The port is free again: the next ALLOCATE gets it.
        relay.opensPorts = true
        #expect(try relay.allocate(self.alice) == port)
    }

    /// A port the shell has yet to report on when its allocation goes is closed once the shell reports it open,
    /// never before: the shell is never asked to close a port it has not opened.
    @Test func aPortReportedAfterItsAllocationWentIsClosedThen() throws {
        var relay = RelayHarness(ports: 50000...50000)
        relay.opensPorts = false
        let port = AllocationPort(50000)
        _ = try self.allocate(&relay)
        relay.server.handleAllocationPortFailed(port, .v4, now: relay.now)
        let commands = relay.drain()
        guard commands.count == 1, case .sendMessage(let bytes, self.alice) = commands[0] else {
            Issue.record("expected the 508 alone, got \(commands)")
            return
        }
        #expect(try STUNMessage(decoding: bytes).errorCode?.code == 508)
        relay.server.handleAllocationPortOpened(port, .v6, now: relay.now)
        #expect(relay.drain() == [.freeAllocation(port, .v6)])
        #expect(relay.server.stateSizes.portsOpening == 0)
    }
}
