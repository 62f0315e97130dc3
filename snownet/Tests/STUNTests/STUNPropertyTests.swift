import FirezoneTesting
import IPPacket
import NIOCore
import STUN
import Testing

/// Randomised checks over ``TestSeeds`` (fixed seeds, or `SIMULATION_SEED` alone); a failure prints its replay hint.
struct STUNPropertyTests {
    /// Whatever the encoder writes decodes to the same message.
    @Test(arguments: TestSeeds.seeds(count: 300))
    func randomMessagesRoundTrip(seed: UInt64) throws {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let sample = RandomMessage(using: &rng)
        let context = Comment(rawValue: "\(TestSeeds.replayHint(seed)): \(sample.attributes)")

        let message = try STUNMessage(decoding: sample.encoded)
        #expect(message.type == sample.type, context)
        #expect(message.transactionID == sample.transactionID, context)
        #expect(message.attributes == sample.attributes, context)
        #expect(message.unknownComprehensionRequiredAttributes.isEmpty, context)
        #expect(message.hasFingerprint == sample.fingerprint, context)
        #expect(message.hasMessageIntegrity == (sample.key != nil), context)
        if let key = sample.key {
            #expect(message.verifyMessageIntegrity(key: key), context)
            #expect(!message.verifyMessageIntegrity(key: key + [1]), context)
        }
    }

    /// One datagram is one message: every strict prefix is rejected, with a typed error.
    @Test(arguments: TestSeeds.seeds(count: 100))
    func everyTruncationIsRejected(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let sample = RandomMessage(using: &rng)
        for length in 0..<sample.encoded.readableBytes {
            let truncated = sample.encoded.getSlice(at: 0, length: length)!
            #expect(throws: STUNDecodeError.self, "\(TestSeeds.replayHint(seed)), length \(length)") {
                try STUNMessage(decoding: truncated)
            }
        }
    }

    /// Corrupted messages are rejected or decode to something whose every accessor answers: nothing traps.
    @Test(arguments: TestSeeds.seeds(count: 500))
    func corruptedMessagesNeverCrash(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let sample = RandomMessage(using: &rng)
        var bytes = Array(sample.encoded.readableBytesView)
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            let index = Int.random(in: 0..<bytes.count, using: &rng)
            bytes[index] = UInt8.random(in: 0...255, using: &rng)
        }
        if Bool.random(using: &rng) {
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
        }
        if let message = try? STUNMessage(decoding: ByteBuffer(bytes: bytes)) {
            exerciseAccessors(message, key: sample.key)
        }
    }

    /// A valid header in front of random attribute bytes: the attribute walk and every value decoder see
    /// arbitrary input, which corrupting a valid message rarely reaches past the FINGERPRINT.
    @Test(arguments: TestSeeds.seeds(count: 1000))
    func randomAttributesNeverCrash(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var body: [UInt8] = []
        for _ in 0..<Int.random(in: 0...6, using: &rng) {
            let type =
                Bool.random(using: &rng)
                ? RandomMessage.knownTypes.randomElement(using: &rng)!
                : UInt16.random(in: 0...UInt16.max, using: &rng)
            let length = Int.random(in: 0...24, using: &rng)
            // Mostly honest lengths, sometimes lies.
            let declared = Int.random(in: 0..<8, using: &rng) == 0 ? Int.random(in: 0...64, using: &rng) : length
            body += bigEndian(type) + bigEndian(UInt16(declared))
            body += (0..<(length + (4 - length % 4) % 4)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        var datagram = ByteBuffer()
        datagram.writeInteger(UInt16.random(in: 0...0x3FFF, using: &rng))
        datagram.writeInteger(UInt16(body.count))
        datagram.writeInteger(STUNConstants.magicCookie)
        datagram.writeTransactionID(TransactionID(using: &rng))
        datagram.writeBytes(body)
        if let message = try? STUNMessage(decoding: datagram) {
            exerciseAccessors(message, key: [1, 2, 3])
        }
    }

    /// Random bytes, mostly not STUN at all.
    @Test(arguments: TestSeeds.seeds(count: 300))
    func randomBytesNeverCrash(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var bytes = (0..<Int.random(in: 0...120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        if bytes.count >= 8, Bool.random(using: &rng) {
            bytes[0] &= 0x3F
            bytes.replaceSubrange(4..<8, with: bigEndian(STUNConstants.magicCookie))
        }
        if let message = try? STUNMessage(decoding: ByteBuffer(bytes: bytes)) {
            exerciseAccessors(message, key: [])
        }
    }

    private func exerciseAccessors(_ message: STUNMessage, key: [UInt8]?) {
        _ = message.verifyMessageIntegrity(key: key ?? [])
        _ = (message.type.description, message.transactionID.description, message.attributes.count)
        _ = (message.mappedAddress, message.xorMappedAddress, message.xorRelayedAddresses, message.xorPeerAddress)
        _ = (message.username, message.realm, message.nonce, message.software, message.errorCode)
        _ = (message.lifetime, message.channelNumber, message.requestedTransport)
        _ = (message.requestedAddressFamily, message.additionalAddressFamily, message.unknownAttributes)
        _ = (message.priority, message.useCandidate, message.iceControlled, message.iceControlling)
        _ = message.unknownComprehensionRequiredAttributes
    }
}

/// A random valid message and its encoding.
struct RandomMessage {
    var type: STUNMessageType
    var transactionID: TransactionID
    var attributes: [STUNAttribute]
    var key: [UInt8]?
    var fingerprint: Bool
    var encoded: ByteBuffer

    static let knownTypes: [UInt16] = {
        typealias Types = STUNConstants.AttributeType
        return [
            Types.mappedAddress, Types.xorMappedAddress, Types.xorRelayedAddress, Types.xorPeerAddress,
            Types.username, Types.realm, Types.nonce, Types.software, Types.errorCode, Types.lifetime,
            Types.channelNumber, Types.requestedTransport, Types.requestedAddressFamily,
            Types.additionalAddressFamily, Types.unknownAttributes, Types.priority, Types.useCandidate,
            Types.iceControlled, Types.iceControlling, Types.messageIntegrity, Types.fingerprint,
        ]
    }()

    init(using rng: inout SeededRandomNumberGenerator) {
        self.type = STUNMessageType(
            method: STUNMethod(rawValue: UInt16.random(in: 0...STUNMethod.maximumRawValue, using: &rng)),
            class: STUNClass.allCases.randomElement(using: &rng)!
        )
        self.transactionID = TransactionID(using: &rng)
        self.attributes = (0..<Int.random(in: 0...8, using: &rng)).map { _ in Self.attribute(using: &rng) }
        self.key = Bool.random(using: &rng) ? Self.bytes(count: Int.random(in: 0...20, using: &rng), using: &rng) : nil
        self.fingerprint = Bool.random(using: &rng)
        var encoded = ByteBuffer()
        STUNMessageEncoder.encode(
            type: self.type,
            transactionID: self.transactionID,
            attributes: self.attributes,
            messageIntegrityKey: self.key,
            fingerprint: self.fingerprint,
            into: &encoded
        )
        self.encoded = encoded
    }

    static func attribute(using rng: inout SeededRandomNumberGenerator) -> STUNAttribute {
        switch Int.random(in: 0..<19, using: &rng) {
        case 0: .mappedAddress(self.socket(using: &rng))
        case 1: .xorMappedAddress(self.socket(using: &rng))
        case 2: .xorRelayedAddress(self.socket(using: &rng))
        case 3: .xorPeerAddress(self.socket(using: &rng))
        case 4: .username(self.text(using: &rng))
        case 5: .realm(self.text(using: &rng))
        case 6: .nonce(self.text(using: &rng))
        case 7: .software(self.text(using: &rng))
        case 8:
            .errorCode(STUNErrorCode(code: UInt16.random(in: 300...699, using: &rng), reason: self.text(using: &rng)))
        case 9: .lifetime(UInt32.random(in: 0...UInt32.max, using: &rng))
        case 10: .channelNumber(UInt16.random(in: 0...UInt16.max, using: &rng))
        case 11: .requestedTransport(UInt8.random(in: 0...255, using: &rng))
        case 12: .requestedAddressFamily(Bool.random(using: &rng) ? .v4 : .v6)
        case 13: .additionalAddressFamily(Bool.random(using: &rng) ? .v4 : .v6)
        case 14:
            .unknownAttributes(
                (0..<Int.random(in: 0...5, using: &rng)).map { _ in UInt16.random(in: 0...UInt16.max, using: &rng) }
            )
        case 15: .priority(UInt32.random(in: 0...UInt32.max, using: &rng))
        case 16: .useCandidate
        case 17: .iceControlled(rng.next())
        default: .iceControlling(rng.next())
        }
    }

    static func socket(using rng: inout SeededRandomNumberGenerator) -> IPSocketAddress {
        let port = UInt16.random(in: 0...UInt16.max, using: &rng)
        if Bool.random(using: &rng) {
            return IPSocketAddress(
                .v4(IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng))),
                port: port
            )
        }
        return IPSocketAddress(.v6(IPv6Address(high: rng.next(), low: rng.next())), port: port)
    }

    /// Text of 0 to 40 characters, ASCII and multi-byte.
    static func text(using rng: inout SeededRandomNumberGenerator) -> String {
        let alphabet: [Character] = Array("abcXYZ019:/+=_- ") + ["é", "\u{30DE}", "😀", "\u{0}"]
        return String((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func bytes(count: Int, using rng: inout SeededRandomNumberGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
}
