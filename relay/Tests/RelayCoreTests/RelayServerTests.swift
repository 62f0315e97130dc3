import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import RelayCore
import STUN
import Testing

struct RelayServerAuthenticationTests {
    let alice = client("198.51.100.7:40000")

    @Test func answersBindingWithoutAuthentication() throws {
        var relay = RelayHarness()
        let response = try relay.request(.binding, from: self.alice)
        #expect(response.type == STUNMessageType(method: .binding, class: .successResponse))
        #expect(response.xorMappedAddress == self.alice.address)
        #expect(!response.hasMessageIntegrity)
        #expect(response.attributes.contains(.software("firezone-relay; rev=testtest")))
    }

    @Test func challengesARequestWithoutCredentialsWithRealmAndNonce() throws {
        var relay = RelayHarness()
        let response = try relay.request(.allocate, from: self.alice, attributes: [.requestedTransport(17)])
        #expect(response.errorCode?.code == 401)
        #expect(response.realm == "firezone")
        #expect(response.nonce.map { $0.count == 56 } == true)
        #expect(!response.hasMessageIntegrity)
    }

    @Test func allocatesWithValidCredentialsAndSignsTheResponse() throws {
        var relay = RelayHarness()
        var commands: [RelayCommand] = []
        let response = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17)],
            otherCommands: &commands
        )
        #expect(response.type.class == .successResponse)
        let relayed = try #require(response.xorRelayedAddresses.first)
        #expect(relayed.address == .v4(RelayHarness.publicIPv4))
        #expect(RelayConstants.defaultAllocationPorts.contains(relayed.port))
        #expect(response.xorMappedAddress == self.alice.address)
        #expect(response.lifetime == 600)
        #expect(commands == [.createAllocation(AllocationPort(relayed.port), .v4)])
        #expect(relay.server.stats.allocations == 1)
    }

    @Test func refusesAWrongPasswordAndAnExpiredUsername() throws {
        var relay = RelayHarness()
        let (username, _) = RelayHarness.credentials()
        let wrong = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17)],
            credentials: (username, "guess")
        )
        #expect(wrong.errorCode?.code == 401)

        // Expired one second before the relay's clock.
        let expired = RelayHarness.credentials(expiry: 1_685_983_999)
        let late = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17)],
            credentials: expired
        )
        #expect(late.errorCode?.code == 401)
        #expect(relay.server.stats.allocations == 0)
    }

    @Test func usernamesExpireWithTheRelaysClock() throws {
        var relay = RelayHarness()
        let credentials = RelayHarness.credentials(expiry: 1_685_984_100)
        _ = try relay.allocate(self.alice, credentials: credentials)
        relay.advance(by: .seconds(101))
        let refresh = try relay.authenticated(.refresh, from: self.alice, credentials: credentials)
        #expect(refresh.errorCode?.code == 401)
    }

    @Test func usernamesExpireByTheLatestWallClockReading() throws {
        var relay = RelayHarness()
        let credentials = RelayHarness.credentials(expiry: 1_685_984_100)
        _ = try relay.allocate(self.alice, credentials: credentials)
        relay.advance(by: .seconds(50))
        // The wall clock was stepped 60 s ahead of the monotonic clock: the username has now expired.
        relay.server.handleWallClock(unixTime: RelayHarness.unixStart + .seconds(110), now: relay.now)
        let refresh = try relay.authenticated(.refresh, from: self.alice, credentials: credentials)
        #expect(refresh.errorCode?.code == 401)
    }

    @Test func aNonceNotOfOurFormIs401AndOneNotOfOurKeyIs438() throws {
        var relay = RelayHarness()
        let (username, password) = RelayHarness.credentials()
        let key = LongTermCredentials.key(username: username, realm: "firezone", password: password)
        func attempt(nonce: String) throws -> UInt16? {
            try relay.request(
                .allocate,
                from: self.alice,
                attributes: [.requestedTransport(17), .username(username), .realm("firezone"), .nonce(nonce)],
                key: key
            ).errorCode?.code
        }
        #expect(try attempt(nonce: "not-a-uuid") == 401)
        #expect(try attempt(nonce: "0b7dd8a4-9c34-4b1c-a1d6-3f1b6b0e2a11") == 401)
        // Our form, but not our MAC (an earlier run of the relay, another key): stale, so the client retries.
        #expect(try attempt(nonce: "00000000647d4b00" + String(repeating: "0", count: 40)) == 438)
    }

    @Test func aNonceIsGoodForItsLifetimeAndThenStale() throws {
        var relay = RelayHarness()
        _ = try relay.allocate(self.alice, attributes: [.lifetime(3600)])
        let challenge = try relay.request(.refresh, from: self.alice)
        let nonce = try #require(challenge.nonce)
        let (username, password) = RelayHarness.credentials()
        let key = LongTermCredentials.key(username: username, realm: "firezone", password: password)
        let attributes: [STUNAttribute] = [.username(username), .realm("firezone"), .nonce(nonce)]
        for _ in 0..<3 {
            #expect(
                try relay.request(.refresh, from: self.alice, attributes: attributes, key: key).type.class
                    == .successResponse
            )
        }
        relay.advance(by: RelayLimits().nonceLifetime - .seconds(1))
        #expect(
            try relay.request(.refresh, from: self.alice, attributes: attributes, key: key).type.class
                == .successResponse
        )
        relay.advance(by: .seconds(1))
        let stale = try relay.request(.refresh, from: self.alice, attributes: attributes, key: key)
        #expect(stale.errorCode?.code == 438)
        #expect(stale.nonce != nil && stale.nonce != nonce)
    }

    @Test func answersUnknownComprehensionRequiredAttributesWith420() throws {
        var relay = RelayHarness()
        // A BINDING request with attribute 0x7777 (comprehension-required, unknown), four bytes of value.
        var request = ByteBuffer(bytes: [0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42])
        request.writeBytes(Array(repeating: 7, count: 12))
        request.writeBytes([0x77, 0x77, 0x00, 0x04, 1, 2, 3, 4])
        var other: [RelayCommand] = []
        let response = try relay.send(request, from: self.alice, otherCommands: &other)
        #expect(response.errorCode?.code == 420)
        #expect(response.attributes.contains(.unknownAttributes([0x7777])))
    }

    @Test func answersUnknownMethodsWith400AndDropsIndications() throws {
        var relay = RelayHarness()
        #expect(try relay.request(STUNMethod(rawValue: 0x00A), from: self.alice).errorCode?.code == 400)

        var indication = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .send, class: .indication),
            transactionID: TransactionID(using: &relay.rng),
            attributes: [],
            messageIntegrityKey: nil,
            fingerprint: false,
            into: &indication
        )
        #expect(relay.server.handleClientInput(indication, from: self.alice, now: relay.now) == .dropped(.notARequest))
        #expect(relay.drain().isEmpty)
    }

    @Test func answersARequestWhoseAttributesDoNotDecodeWith400() throws {
        var relay = RelayHarness()
        // An ALLOCATE whose LIFETIME attribute claims 8 bytes where 4 follow.
        var request = ByteBuffer(bytes: [0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42])
        request.writeBytes(Array(repeating: 9, count: 12))
        request.writeBytes([0x00, 0x0D, 0x00, 0x08, 0, 0, 2, 88])
        var other: [RelayCommand] = []
        let response = try relay.send(request, from: self.alice, otherCommands: &other)
        #expect(response.type == STUNMessageType(method: .allocate, class: .errorResponse))
        #expect(response.errorCode?.code == 400)
        #expect(relay.server.stats.drops(.malformedSTUN) == 1)
    }

    @Test(arguments: [
        (ByteBuffer(bytes: [0x80, 1, 2, 3]), RelayStats.DropReason.notTURN),
        (ByteBuffer(bytes: [0x01, 0x01, 0x00]), .malformedSTUN),
        (ByteBuffer(bytes: [0x40, 0x00, 0x00, 0x08, 1]), .malformedChannelData),
        (ByteBuffer(), .notTURN),
    ])
    func dropsWhatIsNotTURN(datagram: ByteBuffer, reason: RelayStats.DropReason) {
        var relay = RelayHarness()
        #expect(relay.server.handleClientInput(datagram, from: self.alice, now: .zero) == .dropped(reason))
        #expect(relay.server.stats.drops(reason) == 1)
        #expect(relay.drain().isEmpty)
    }

    @Test func dropsDatagramsFromPortZero() {
        var relay = RelayHarness()
        let result = relay.server.handleClientInput(channelData(0x4000, "x"), from: client("10.0.0.1:0"), now: .zero)
        #expect(result == .dropped(.sourcePortZero))
    }
}

struct RelayServerAllocationTests {
    let alice = client("198.51.100.7:40000")

    @Test func aSecondAllocateFromTheSameSocketIs437() throws {
        var relay = RelayHarness()
        _ = try relay.allocate(self.alice)
        let again = try relay.authenticated(.allocate, from: self.alice, attributes: [.requestedTransport(17)])
        #expect(again.errorCode?.code == 437)
    }

    @Test func aRoamingClientReplacesItsAllocationWhenJoinedToAPortal() throws {
        var relay = RelayHarness(mode: .portal)
        let first = try relay.allocate(self.alice)
        _ = try relay.bind(self.alice, channel: 0x4000, to: peer("192.0.2.9:5000"))
        _ = relay.drain()

        let roamed = client("198.51.100.99:41000")
        var commands: [RelayCommand] = []
        let response = try relay.authenticated(
            .allocate,
            from: roamed,
            attributes: [.requestedTransport(17)],
            otherCommands: &commands
        )
        let second = AllocationPort(try #require(response.xorRelayedAddresses.first).port)
        #expect(
            commands == [
                .deleteChannelBinding(
                    client: self.alice,
                    channel: ChannelNumber(0x4000),
                    peer: peer("192.0.2.9:5000"),
                    port: first
                ),
                .freeAllocation(first, .v4),
                .createAllocation(second, .v4),
            ]
        )
        #expect(relay.server.stats.allocations == 1 && relay.server.stats.channels == 0)
        #expect(try relay.authenticated(.refresh, from: self.alice).errorCode?.code == 437)
    }

    @Test(arguments: [nil, 6] as [UInt8?])
    func requiresUDPAsTheRequestedTransport(transport: UInt8?) throws {
        var relay = RelayHarness()
        let attributes: [STUNAttribute] = transport.map { [.requestedTransport($0)] } ?? []
        #expect(try relay.authenticated(.allocate, from: self.alice, attributes: attributes).errorCode?.code == 400)
    }

    /// RFC 8656 §7.2, as Firezone's relay does it: the address family rules, on dual- and single-stack relays.
    @Test(
        arguments: [
            (true, true, [], [IPVersion.v4], nil),
            (true, true, [STUNAttribute.requestedAddressFamily(.v6)], [.v6], nil),
            (true, true, [.requestedAddressFamily(.v4)], [.v4], nil),
            (true, true, [.additionalAddressFamily(.v6)], [.v4, .v6], nil),
            (true, true, [.additionalAddressFamily(.v4)], [], 400),
            (true, true, [.requestedAddressFamily(.v4), .additionalAddressFamily(.v6)], [], 400),
            (true, false, [.requestedAddressFamily(.v6)], [], 440),
            (true, false, [.additionalAddressFamily(.v6)], [.v4], nil),
            (false, true, [], [], 440),
            (false, true, [.additionalAddressFamily(.v6)], [.v6], nil),
        ] as [(Bool, Bool, [STUNAttribute], [IPVersion], UInt16?)]
    )
    func grantsAddressFamiliesAsAsked(
        ipv4: Bool,
        ipv6: Bool,
        attributes: [STUNAttribute],
        granted: [IPVersion],
        error: UInt16?
    ) throws {
        var relay = RelayHarness(ipv4: ipv4, ipv6: ipv6)
        var commands: [RelayCommand] = []
        let response = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17)] + attributes,
            otherCommands: &commands
        )
        #expect(response.errorCode?.code == error)
        #expect(response.xorRelayedAddresses.map(\.address.version) == granted)
        let ports = Set(response.xorRelayedAddresses.map(\.port))
        #expect(ports.count <= 1, "both families share one port")
        #expect(commands.count == granted.count)
    }

    @Test func answers508WhenEveryPortIsTaken() throws {
        var relay = RelayHarness(ports: 50000...50001)
        _ = try relay.allocate(client("10.0.0.1:1"), credentials: RelayHarness.credentials(salt: "a"))
        _ = try relay.allocate(client("10.0.0.2:1"), credentials: RelayHarness.credentials(salt: "b"))
        let third = try relay.authenticated(
            .allocate,
            from: client("10.0.0.3:1"),
            attributes: [.requestedTransport(17)],
            credentials: RelayHarness.credentials(salt: "c")
        )
        #expect(third.errorCode?.code == 508)
    }

    @Test(arguments: [(nil, 600), (60, 600), (1200, 1200), (7200, 3600)] as [(UInt32?, UInt32)])
    func grantsLifetimesBetweenTheDefaultAndTheMaximum(requested: UInt32?, granted: UInt32) throws {
        var relay = RelayHarness()
        let response = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17)] + (requested.map { [.lifetime($0)] } ?? [])
        )
        #expect(response.lifetime == granted)
    }

    @Test func expiresAnAllocationAtItsLifetimeUnlessRefreshed() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice)
        #expect(relay.server.pollTimeout()?.deadline == .zero + .seconds(600))

        relay.advance(by: .seconds(500))
        #expect(try relay.authenticated(.refresh, from: self.alice).lifetime == 600)
        relay.advance(by: .seconds(599))
        #expect(relay.drain().isEmpty)
        relay.advance(by: .seconds(1))
        #expect(relay.drain() == [.freeAllocation(port, .v4)])
        #expect(relay.server.stats.allocations == 0)
        #expect(try relay.authenticated(.refresh, from: self.alice).errorCode?.code == 437)
    }

    @Test func aRefreshWithLifetimeZeroDeletesTheAllocation() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        var commands: [RelayCommand] = []
        let response = try relay.authenticated(
            .refresh,
            from: self.alice,
            attributes: [.lifetime(0)],
            otherCommands: &commands
        )
        #expect(response.lifetime == 0)
        #expect(commands == [.freeAllocation(port, .v4), .freeAllocation(port, .v6)])
    }

    @Test func createPermissionIsAcceptedAndKeepsNothing() throws {
        var relay = RelayHarness()
        _ = try relay.allocate(self.alice)
        let response = try relay.authenticated(
            .createPermission,
            from: self.alice,
            attributes: [.xorPeerAddress(IPSocketAddress("192.0.2.1:1")!)]
        )
        #expect(response.type.class == .successResponse)
    }
}

struct RelayServerChannelTests {
    let alice = client("198.51.100.7:40000")
    let bob = peer("192.0.2.9:5000")

    /// Relay-to-relay loopback (Firezone #10286): client and gateway both allocated on this relay, each with a
    /// channel to the other's relayed address. Channel data goes straight to the other allocation's client on the
    /// channel it bound to the sender's relayed address, never onto the wire as UDP to the relay itself, in either
    /// family.
    @Test(arguments: [RelayHarness.publicIPv4.description, "[\(RelayHarness.publicIPv6)]"])
    func channelDataToAnotherAllocationOfTheRelayLoopsBackToItsClient(ownAddress: String) throws {
        var relay = RelayHarness()
        let gateway = client("192.0.2.77:52625")
        let alicePort = try relay.allocate(self.alice, attributes: [.additionalAddressFamily(.v6)])
        let gatewayPort = try relay.allocate(gateway, attributes: [.additionalAddressFamily(.v6)])
        let aliceRelayed = peer("\(ownAddress):\(alicePort.value)")
        let gatewayRelayed = peer("\(ownAddress):\(gatewayPort.value)")
        #expect(try relay.bind(self.alice, channel: 0x4001, to: gatewayRelayed).type.class == .successResponse)
        #expect(try relay.bind(gateway, channel: 0x4abc, to: aliceRelayed).type.class == .successResponse)

        let toGateway = relay.server.handleClientInput(channelData(0x4001, "hello"), from: self.alice, now: relay.now)
        #expect(
            toGateway
                == .loopBack(payload: ByteBuffer(string: "hello"), client: gateway, channel: ChannelNumber(0x4abc))
        )
        let toAlice = relay.server.handleClientInput(
            channelData(0x4abc, "hi", padding: 2),
            from: gateway,
            now: relay.now
        )
        #expect(
            toAlice == .loopBack(payload: ByteBuffer(string: "hi"), client: self.alice, channel: ChannelNumber(0x4001))
        )
        #expect(relay.server.stats.relayedPackets == 2 && relay.server.stats.relayedBytes == 7)
    }

    /// The other allocation takes looped-back data only over a channel bound to the sender's relayed address, as it
    /// would take the datagram itself from the wire; without one the data is dropped, not sent to the relay itself.
    @Test func loopedBackDataNeedsTheOtherAllocationsChannelToTheSender() throws {
        var relay = RelayHarness()
        let gateway = client("192.0.2.77:52625")
        _ = try relay.allocate(self.alice)
        let gatewayPort = try relay.allocate(gateway)
        let gatewayRelayed = peer("\(RelayHarness.publicIPv4):\(gatewayPort.value)")
        #expect(try relay.bind(self.alice, channel: 0x4001, to: gatewayRelayed).type.class == .successResponse)
        #expect(try relay.bind(gateway, channel: 0x4002, to: self.bob).type.class == .successResponse)

        let result = relay.server.handleClientInput(channelData(0x4001, "hello"), from: self.alice, now: relay.now)
        #expect(result == .dropped(.noChannelForPeer))
        #expect(relay.server.stats.relayedPackets == 0)
    }

    @Test func relaysChannelDataBothWaysWithExactPayloads() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice)
        var commands: [RelayCommand] = []
        let bind = try relay.authenticated(
            .channelBind,
            from: self.alice,
            attributes: [.channelNumber(0x4001), .xorPeerAddress(self.bob.address)],
            otherCommands: &commands
        )
        #expect(bind.type.class == .successResponse)
        #expect(
            commands == [
                .createChannelBinding(client: self.alice, channel: ChannelNumber(0x4001), peer: self.bob, port: port)
            ]
        )

        // RFC 8656 §12.5: padding after the declared length is tolerated and not relayed.
        let outbound = relay.server.handleClientInput(
            channelData(0x4001, "hello", padding: 3),
            from: self.alice,
            now: relay.now
        )
        #expect(outbound == .forward(payload: ByteBuffer(string: "hello"), from: port, to: self.bob))

        let inbound = relay.server.handlePeerInput(length: 7, from: self.bob, to: port, now: relay.now)
        #expect(inbound == .forward(client: self.alice, channel: ChannelNumber(0x4001)))
        #expect(relay.server.stats.relayedPackets == 2 && relay.server.stats.relayedBytes == 12)
    }

    @Test func dropsDataOnUnboundChannelsAndFromUnknownPeers() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice)
        #expect(
            relay.server.handleClientInput(channelData(0x4001, "x"), from: self.alice, now: relay.now)
                == .dropped(.unboundChannel)
        )
        #expect(
            relay.server.handlePeerInput(length: 1, from: self.bob, to: port, now: relay.now)
                == .dropped(.noChannelForPeer)
        )

        _ = try relay.bind(self.alice, channel: 0x4001, to: self.bob)
        // Another client may not use alice's channel, and another peer gets nothing through it.
        #expect(
            relay.server.handleClientInput(channelData(0x4001, "x"), from: client("198.51.100.8:1"), now: relay.now)
                == .dropped(.unboundChannel)
        )
        #expect(
            relay.server.handlePeerInput(length: 1, from: peer("192.0.2.10:5000"), to: port, now: relay.now)
                == .dropped(.noChannelForPeer)
        )
    }

    @Test func refusesMalformedAndConflictingBindings() throws {
        var relay = RelayHarness()
        #expect(try relay.bind(self.alice, channel: 0x4001, to: self.bob).errorCode?.code == 437)
        _ = try relay.allocate(self.alice)
        #expect(
            try relay.authenticated(.channelBind, from: self.alice, attributes: [.channelNumber(0x4001)]).errorCode?
                .code == 400
        )
        #expect(
            try relay.authenticated(.channelBind, from: self.alice, attributes: [.xorPeerAddress(self.bob.address)])
                .errorCode?.code == 400
        )
        #expect(try relay.bind(self.alice, channel: 0x3FFF, to: self.bob).errorCode?.code == 400)
        #expect(try relay.bind(self.alice, channel: 0x8000, to: self.bob).errorCode?.code == 400)
        #expect(try relay.bind(self.alice, channel: 0x4001, to: peer("[2001:db8::9]:5000")).errorCode?.code == 443)

        #expect(try relay.bind(self.alice, channel: 0x4001, to: self.bob).type.class == .successResponse)
        #expect(try relay.bind(self.alice, channel: 0x4001, to: peer("192.0.2.10:5000")).errorCode?.code == 400)
        #expect(try relay.bind(self.alice, channel: 0x4002, to: self.bob).errorCode?.code == 400)
    }

    @Test func rebindingTheSamePairRefreshesIt() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice, attributes: [.lifetime(3600)])
        _ = try relay.bind(self.alice, channel: 0x4001, to: self.bob)
        _ = relay.drain()
        relay.advance(by: .seconds(500))
        var commands: [RelayCommand] = []
        let again = try relay.authenticated(
            .channelBind,
            from: self.alice,
            attributes: [.channelNumber(0x4001), .xorPeerAddress(self.bob.address)],
            otherCommands: &commands
        )
        #expect(again.type.class == .successResponse)
        // The datapath keeps the binding; an offloading one mirrors it again in case its copy was lost.
        #expect(
            commands == [
                .refreshChannelBinding(client: self.alice, channel: ChannelNumber(0x4001), peer: self.bob, port: port)
            ]
        )
        relay.advance(by: .seconds(500))
        #expect(
            relay.server.handleClientInput(channelData(0x4001, "x"), from: self.alice, now: relay.now)
                != .dropped(.unboundChannel)
        )
    }

    /// The data path checks the binding's expiry itself: a binding past it relays nothing even before the relay's
    /// timer for it has run (an event loop busy with a flood).
    @Test func anExpiredBindingRelaysNothingBeforeItsTimerRuns() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice, attributes: [.lifetime(3600)])
        _ = try relay.bind(self.alice, channel: 0x4001, to: self.bob)
        _ = relay.drain()
        let justBefore = relay.now + RelayConstants.channelBindingLifetime - .milliseconds(1)
        #expect(
            relay.server.handleClientInput(channelData(0x4001, "x"), from: self.alice, now: justBefore)
                != .dropped(.unboundChannel)
        )

        // No handleTimeout: only `now` moves past the expiry.
        let expiry = relay.now + RelayConstants.channelBindingLifetime
        #expect(
            relay.server.handleClientInput(channelData(0x4001, "x"), from: self.alice, now: expiry)
                == .dropped(.unboundChannel)
        )
        #expect(
            relay.server.handlePeerInput(length: 1, from: self.bob, to: port, now: expiry)
                == .dropped(.noChannelForPeer)
        )
    }

    @Test func aLapsedBindingStopsDataAndReservesItsNumberAndPeerFor300Seconds() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice, attributes: [.lifetime(3600)])
        _ = try relay.bind(self.alice, channel: 0x4001, to: self.bob)
        _ = relay.drain()

        relay.advance(by: .seconds(600))
        #expect(
            relay.drain() == [
                .deleteChannelBinding(client: self.alice, channel: ChannelNumber(0x4001), peer: self.bob, port: port)
            ]
        )
        #expect(relay.server.stats.channels == 0)
        #expect(
            relay.server.handleClientInput(channelData(0x4001, "x"), from: self.alice, now: relay.now)
                == .dropped(.unboundChannel)
        )
        #expect(
            relay.server.handlePeerInput(length: 1, from: self.bob, to: port, now: relay.now)
                == .dropped(.noChannelForPeer)
        )
        #expect(try relay.bind(self.alice, channel: 0x4001, to: peer("192.0.2.10:5000")).errorCode?.code == 400)
        #expect(try relay.bind(self.alice, channel: 0x4002, to: self.bob).errorCode?.code == 400)

        relay.advance(by: .seconds(300))
        #expect(try relay.bind(self.alice, channel: 0x4002, to: self.bob).type.class == .successResponse)
    }

    @Test func deletingAnAllocationDeletesItsChannels() throws {
        var relay = RelayHarness()
        let port = try relay.allocate(self.alice)
        _ = try relay.bind(self.alice, channel: 0x4001, to: self.bob)
        _ = try relay.bind(self.alice, channel: 0x4000, to: peer("192.0.2.10:5000"))
        _ = relay.drain()
        relay.advance(by: .seconds(600))
        #expect(
            relay.drain() == [
                .deleteChannelBinding(
                    client: self.alice,
                    channel: ChannelNumber(0x4000),
                    peer: peer("192.0.2.10:5000"),
                    port: port
                ),
                .deleteChannelBinding(client: self.alice, channel: ChannelNumber(0x4001), peer: self.bob, port: port),
                .freeAllocation(port, .v4),
            ]
        )
        #expect(relay.server.pollTimeout() == nil)
    }
}

/// RFC 8656 §7.2: EVEN-PORT and RESERVATION-TOKEN, which coturn's clients send.
struct RelayServerEvenPortTests {
    let alice = client("198.51.100.7:40000")
    let bob = client("198.51.100.8:40000")

    @Test func allocatesAnEvenPortAndReservesTheNextForItsToken() throws {
        var relay = RelayHarness(ports: 50000...50009)
        let first = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17), .evenPort(reserve: true)]
        )
        let port = try #require(first.xorRelayedAddresses.first?.port)
        #expect(port % 2 == 0)
        let token = try #require(first.reservationToken)

        // The companion allocation comes from another socket of the same client, with the same username: it
        // must not evict the first as a roaming client would.
        let second = try relay.authenticated(
            .allocate,
            from: self.bob,
            attributes: [.requestedTransport(17), .reservationToken(token)]
        )
        #expect(second.xorRelayedAddresses.first?.port == port + 1)
        #expect(relay.server.stats.allocations == 2)
        #expect(try relay.authenticated(.refresh, from: self.alice).type.class == .successResponse)
        // A token is good once.
        let third = try relay.authenticated(
            .allocate,
            from: client("198.51.100.9:1"),
            attributes: [.requestedTransport(17), .reservationToken(token)],
            credentials: RelayHarness.credentials(salt: "carol")
        )
        #expect(third.errorCode?.code == 508)
    }

    @Test func aReservedPortIsNotHandedOutAndIsReleasedAfter30Seconds() throws {
        var relay = RelayHarness(ports: 50000...50001)
        let first = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17), .evenPort(reserve: true)]
        )
        #expect(first.xorRelayedAddresses.first?.port == 50000)
        let credentials = RelayHarness.credentials(salt: "bob")
        #expect(
            try relay.authenticated(
                .allocate,
                from: self.bob,
                attributes: [.requestedTransport(17)],
                credentials: credentials
            ).errorCode?.code == 508
        )
        relay.advance(by: .seconds(30))
        #expect(
            try relay.authenticated(
                .allocate,
                from: self.bob,
                attributes: [.requestedTransport(17)],
                credentials: credentials
            ).xorRelayedAddresses.first?.port == 50001
        )
    }

    @Test(arguments: [
        [STUNAttribute.reservationToken(1), .evenPort(reserve: false)],
        [.reservationToken(1), .requestedAddressFamily(.v4)],
        [.evenPort(reserve: true), .additionalAddressFamily(.v6)],
    ])
    func refusesContradictoryRequests(attributes: [STUNAttribute]) throws {
        var relay = RelayHarness()
        #expect(
            try relay.authenticated(.allocate, from: self.alice, attributes: [.requestedTransport(17)] + attributes)
                .errorCode?.code == 400
        )
    }

    @Test func anUnknownTokenIs508() throws {
        var relay = RelayHarness()
        let response = try relay.authenticated(
            .allocate,
            from: self.alice,
            attributes: [.requestedTransport(17), .reservationToken(42)]
        )
        #expect(response.errorCode?.code == 508)
    }
}
