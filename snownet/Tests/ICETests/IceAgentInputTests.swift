import FirezoneTesting
import FirezoneTime
import IPPacket
import Logging
import NIOCore
import STUN
import Testing

@testable import ICE

/// One agent fed hand-made STUN: what it answers, what it refuses, and that nothing a stranger sends crashes it or
/// grows its state without bound.
@Suite struct IceAgentInputTests {
    static let local = IceCredentials(ufrag: "gw7a", password: "gateway-password-0123456789")
    static let remote = IceCredentials(ufrag: "cl1e", password: "client-password-0123456789")
    static let ourSocket = IPSocketAddress("198.51.100.1:51820")!
    static let peerSocket = IPSocketAddress("192.0.2.1:51820")!
    static let now = Instant(nanoseconds: 1_000_000_000)
    static let prflxPriority: UInt32 = 110 << 24 | 65_534 << 8 | 255

    static func agent(role: IceRole = .controlled, seed: UInt64 = 1) -> IceAgent {
        var logger = Logger(label: "ice-input")
        logger.logLevel = .critical
        var agent = IceAgent(role: role, local: Self.local, remote: Self.remote, seed: seed, logger: logger)
        _ = agent.addLocalCandidate(.host(Self.ourSocket))
        return agent
    }

    static func request(
        username: String? = "gw7a:cl1e",
        priority: UInt32? = Self.prflxPriority,
        controlling: UInt64? = 5,
        controlled: UInt64? = nil,
        useCandidate: Bool = false,
        key: [UInt8]? = Array("gateway-password-0123456789".utf8),
        fingerprint: Bool = true,
        transactionID: TransactionID = TransactionID(high: 1, low: 2)
    ) -> STUNMessage {
        var attributes: [STUNAttribute] = []
        if let username { attributes.append(.username(username)) }
        if let priority { attributes.append(.priority(priority)) }
        if let controlling { attributes.append(.iceControlling(controlling)) }
        if let controlled { attributes.append(.iceControlled(controlled)) }
        if useCandidate { attributes.append(.useCandidate) }
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .request),
            transactionID: transactionID,
            attributes: attributes,
            messageIntegrityKey: key,
            fingerprint: fingerprint,
            into: &buffer
        )
        return try! STUNMessage(decoding: buffer)
    }

    /// Everything the agent queued, decoded.
    static func drain(_ agent: inout IceAgent) throws -> [(transmit: IceTransmit, message: STUNMessage)] {
        var sent: [(IceTransmit, STUNMessage)] = []
        while let transmit = agent.pollTransmit() {
            sent.append((transmit, try STUNMessage(decoding: transmit.payload)))
        }
        return sent
    }

    // MARK: Well-formed checks

    @Test func checkIsAnsweredSignedAndCheckedBack() throws {
        var agent = Self.agent()
        let request = Self.request()
        #expect(agent.accepts(request))
        agent.handleSTUN(request, from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        let sent = try Self.drain(&agent)
        try #require(sent.count == 2)

        let (responseTransmit, response) = sent[0]
        #expect(response.type == STUNMessageType(method: .binding, class: .successResponse))
        #expect(response.transactionID == request.transactionID)
        #expect(response.xorMappedAddress == Self.peerSocket)
        #expect(response.verifyMessageIntegrity(key: Array(Self.local.password.utf8)))
        #expect(response.hasFingerprint)
        #expect(responseTransmit.source == Self.ourSocket && responseTransmit.destination == Self.peerSocket)

        // RFC 8445 §7.3.1.4: the triggered check, with the peer learned as a peer-reflexive candidate.
        let (checkTransmit, check) = sent[1]
        #expect(check.type == STUNMessageType(method: .binding, class: .request))
        #expect(check.username == "cl1e:gw7a")
        #expect(check.priority == Self.prflxPriority)
        #expect(check.iceControlled == agent.tieBreaker)
        #expect(check.iceControlling == nil)
        #expect(!check.useCandidate)
        #expect(check.verifyMessageIntegrity(key: Array(Self.remote.password.utf8)))
        #expect(!check.verifyMessageIntegrity(key: Array(Self.local.password.utf8)))
        #expect(check.hasFingerprint)
        #expect(checkTransmit.source == Self.ourSocket && checkTransmit.destination == Self.peerSocket)
        #expect(agent.remoteCandidates.map(\.kind) == [.peerReflexive])
        #expect(agent.remoteCandidates.first?.priority == Self.prflxPriority)
        #expect(agent.accepts(check) == false, "our own request is not for us")
    }

    @Test func controllingCheckCarriesItsRoleAndNominationFollowsSuccess() throws {
        var agent = Self.agent(role: .controlling)
        agent.addRemoteCandidate(.host(Self.peerSocket), now: Self.now)
        agent.handleTimeout(now: Self.now)
        let check = try #require(try Self.drain(&agent).first).message
        #expect(check.iceControlling == agent.tieBreaker)
        #expect(!check.useCandidate)

        // The peer answers: the pair succeeds and the agent nominates it with USE-CANDIDATE.
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .successResponse),
            transactionID: check.transactionID,
            attributes: [.xorMappedAddress(Self.ourSocket)],
            messageIntegrityKey: Array(Self.remote.password.utf8),
            fingerprint: true,
            into: &buffer
        )
        let response = try STUNMessage(decoding: buffer)
        #expect(agent.accepts(response))
        agent.handleSTUN(response, from: Self.peerSocket, to: Self.ourSocket, now: Self.now + .milliseconds(40))
        let nomination = try #require(try Self.drain(&agent).first).message
        #expect(nomination.useCandidate)
        #expect(nomination.iceControlling == agent.tieBreaker)
        #expect(agent.nominatedPair == nil, "nominated only once the USE-CANDIDATE check succeeds")
    }

    @Test func checksGoOutInPairPriorityOrderWhateverTheCandidateOrder() throws {
        var agent = Self.agent(role: .controlling)
        let relay = Candidate.relayed(IPSocketAddress("203.0.113.5:50000")!)
        let srflx = Candidate.serverReflexive(IPSocketAddress("203.0.113.9:4000")!, base: Self.peerSocket)
        let host = Candidate.host(Self.peerSocket)
        for candidate in [relay, srflx, host] {
            agent.addRemoteCandidate(candidate, now: Self.now)
        }
        #expect(agent.pollTransmit() == nil, "checks wait for the batch")
        #expect(agent.pollTimeout() == Self.now)
        agent.handleTimeout(now: Self.now)
        let destinations = try Self.drain(&agent).map(\.transmit.destination)
        #expect(destinations == [host.address, srflx.address, relay.address])
    }

    @Test func responseFromAnotherAddressFailsThePair() throws {
        var agent = Self.agent(role: .controlling)
        agent.addRemoteCandidate(.host(Self.peerSocket), now: Self.now)
        agent.handleTimeout(now: Self.now)
        let check = try #require(try Self.drain(&agent).first).message
        var buffer = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: .binding, class: .successResponse),
            transactionID: check.transactionID,
            attributes: [.xorMappedAddress(Self.ourSocket)],
            messageIntegrityKey: Array(Self.remote.password.utf8),
            fingerprint: true,
            into: &buffer
        )
        // RFC 8445 §7.2.5.2.1: a response that does not come back on the request's path fails the pair.
        let elsewhere = IPSocketAddress("192.0.2.1:9999")!
        agent.handleSTUN(try STUNMessage(decoding: buffer), from: elsewhere, to: Self.ourSocket, now: Self.now)
        #expect(agent.pairs.map(\.state) == [.failed])
        #expect(try Self.drain(&agent).isEmpty, "no nomination")
        #expect(agent.state == .disconnected)
    }

    @Test func requestOnAFailedPairChecksItAgain() throws {
        var agent = Self.agent(role: .controlled)
        agent.addRemoteCandidate(.host(Self.peerSocket), now: Self.now)
        var now = Self.now
        while let deadline = agent.pollTimeout(), deadline < Self.now + .seconds(60) {
            now = deadline
            agent.handleTimeout(now: now)
        }
        #expect(agent.pairs.map(\.state) == [.failed])
        #expect(agent.state == .disconnected)
        _ = try Self.drain(&agent)

        // RFC 8445 §7.3.1.4: a check from the peer on a failed pair makes it waiting again, checked at once.
        agent.handleSTUN(Self.request(controlling: 5), from: Self.peerSocket, to: Self.ourSocket, now: now)
        let sent = try Self.drain(&agent)
        #expect(sent.map(\.message.type.class) == [.successResponse, .request])
        #expect(agent.pairs.map(\.state) == [.inProgress])
        #expect(agent.state == .checking)
    }

    // MARK: Refused input

    @Test func badIntegrityIsRefusedWith401() throws {
        var agent = Self.agent()
        let request = Self.request(key: Array("wrong".utf8))
        agent.handleSTUN(request, from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        let sent = try Self.drain(&agent)
        try #require(sent.count == 1)
        #expect(sent[0].message.type.class == .errorResponse)
        #expect(sent[0].message.errorCode?.code == 401)
        #expect(!sent[0].message.hasMessageIntegrity)
        #expect(agent.remoteCandidates.isEmpty)
        #expect(agent.state == .new)
    }

    @Test func missingAttributesAreRefusedWith400() throws {
        for request in [
            Self.request(username: nil),
            Self.request(key: nil),
            Self.request(priority: nil),
            Self.request(controlling: nil),
        ] {
            var agent = Self.agent()
            agent.handleSTUN(request, from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
            let sent = try Self.drain(&agent)
            try #require(sent.count == 1)
            #expect(sent[0].message.errorCode?.code == 400)
            #expect(agent.remoteCandidates.isEmpty)
        }
    }

    @Test func requestWithoutFingerprintIsDropped() throws {
        var agent = Self.agent()
        agent.handleSTUN(Self.request(fingerprint: false), from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        #expect(try Self.drain(&agent).isEmpty)
        #expect(agent.remoteCandidates.isEmpty)
    }

    @Test func unknownUfragIsNotAccepted() throws {
        var agent = Self.agent()
        for username in ["other:cl1e", "gw7a:other", "gw7a", "cl1e:gw7a", ""] {
            let request = Self.request(username: username)
            #expect(!agent.accepts(request), "\(username)")
            agent.handleSTUN(request, from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        }
        #expect(try Self.drain(&agent).isEmpty)
    }

    @Test func responsesAreMatchedAndAuthenticated() throws {
        var agent = Self.agent(role: .controlling)
        agent.addRemoteCandidate(.host(Self.peerSocket), now: Self.now)
        agent.handleTimeout(now: Self.now)
        let check = try #require(try Self.drain(&agent).first).message
        func response(id: TransactionID, key: String) throws -> STUNMessage {
            var buffer = ByteBuffer()
            STUNMessageEncoder.encode(
                type: STUNMessageType(method: .binding, class: .successResponse),
                transactionID: id,
                attributes: [.xorMappedAddress(Self.ourSocket)],
                messageIntegrityKey: Array(key.utf8),
                fingerprint: true,
                into: &buffer
            )
            return try STUNMessage(decoding: buffer)
        }
        let stranger = try response(id: TransactionID(high: 9, low: 9), key: Self.remote.password)
        #expect(!agent.accepts(stranger))
        agent.handleSTUN(stranger, from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        let forged = try response(id: check.transactionID, key: "guess")
        agent.handleSTUN(forged, from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        #expect(agent.pairs.allSatisfy { $0.state != .succeeded })
        #expect(agent.accepts(try response(id: check.transactionID, key: Self.remote.password)), "still awaited")
    }

    @Test func roleConflictIsAnsweredWith487OrResolvedByTieBreaker() throws {
        // Two controlling agents: the request's tie-breaker decides (RFC 8445 §7.3.1.1).
        var agent = Self.agent(role: .controlling, seed: 42)
        let ours = agent.tieBreaker
        agent.handleSTUN(Self.request(controlling: ours - 1), from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        let refused = try Self.drain(&agent)
        try #require(refused.count == 1)
        #expect(refused[0].message.errorCode?.code == 487)
        #expect(refused[0].message.verifyMessageIntegrity(key: Array(Self.local.password.utf8)))
        #expect(agent.role == .controlling)

        agent.handleSTUN(Self.request(controlling: ours + 1), from: Self.peerSocket, to: Self.ourSocket, now: Self.now)
        #expect(try Self.drain(&agent).first?.message.type.class == .successResponse)
        #expect(agent.role == .controlled)
    }

    // MARK: Robustness

    @Test func mutatedAndTruncatedMessagesNeverCrash() throws {
        for seed in TestSeeds.seeds(count: 4) {
            var generator = SeededRandomNumberGenerator(seed: seed)
            var agent = Self.agent(seed: seed)
            agent.addRemoteCandidate(.host(Self.peerSocket), now: Self.now)
            agent.handleTimeout(now: Self.now)
            let valid = Self.request(useCandidate: true).buffer
            var decoded = 0
            for round in 0..<2_000 {
                var bytes = Array(valid.readableBytesView)
                switch round % 3 {
                case 0:
                    bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
                case 1:
                    for _ in 0..<Int.random(in: 1...4, using: &generator) {
                        bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                            in: .min ... .max,
                            using: &generator
                        )
                    }
                default:
                    bytes = generator.bytes(Int.random(in: 0...64, using: &generator))
                }
                guard let message = try? STUNMessage(decoding: ByteBuffer(bytes: bytes)) else {
                    continue
                }
                decoded += 1
                _ = agent.accepts(message)
                let now = Self.now + .milliseconds(Int64(round))
                agent.handleSTUN(message, from: Self.peerSocket, to: Self.ourSocket, now: now)
                agent.handleTimeout(now: now)
                _ = try Self.drain(&agent)
            }
            #expect(decoded > 0, "\(TestSeeds.replayHint(seed))")
        }
    }

    @Test func authenticatedFloodFromManySourcesStaysBounded() throws {
        var agent = Self.agent()
        for index in 0..<2_000 {
            let source = IPSocketAddress(.v4(IPv4Address(rawValue: 0xC000_0200 + UInt32(index))), port: 4_000)
            let request = Self.request(transactionID: TransactionID(high: 7, low: UInt64(index)))
            let now = Self.now + .milliseconds(Int64(index))
            agent.handleSTUN(request, from: source, to: Self.ourSocket, now: now)
            agent.handleTimeout(now: now)
            _ = try Self.drain(&agent)
        }
        #expect(agent.remoteCandidates.count == IceConstants.maximumRemoteCandidates)
        #expect(agent.pairs.count <= IceConstants.maximumCandidatePairs)
        #expect(agent.transactions.count <= IceConstants.maximumTransactions)
    }

    @Test func localCandidatesAndPairsAreBounded() {
        var agent = Self.agent(role: .controlling)
        for index in 0..<200 {
            _ = agent.addLocalCandidate(.host(IPSocketAddress(.v4(IPv4Address(10, 0, 1, UInt8(index))), port: 1)))
            agent.addRemoteCandidate(
                .host(IPSocketAddress(.v4(IPv4Address(192, 0, 2, UInt8(index))), port: 1)),
                now: Self.now
            )
        }
        #expect(agent.localCandidates.count == IceConstants.maximumLocalCandidates)
        #expect(agent.remoteCandidates.count == IceConstants.maximumRemoteCandidates)
        #expect(agent.pairs.count == IceConstants.maximumCandidatePairs)
        // The checklist keeps the best pairs and checks them in priority order.
        #expect(agent.pairs.map(\.priority) == agent.pairs.map(\.priority).sorted(by: >))
    }
}
