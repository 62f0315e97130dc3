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

    /// Corrupted messages decode, or throw the error their bytes call for (see ``expectDecodesOrThrowsItsError``).
    @Test(arguments: TestSeeds.seeds(count: 500))
    func corruptedMessagesDecodeOrThrowTheirError(seed: UInt64) {
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
        expectDecodesOrThrowsItsError(bytes, key: sample.key, seed: seed)
    }

    /// A valid header in front of random attribute bytes: the attribute walk and every value decoder see
    /// arbitrary input, which corrupting a valid message rarely reaches past the FINGERPRINT.
    @Test(arguments: TestSeeds.seeds(count: 1000))
    func randomAttributesDecodeOrThrowTheirError(seed: UInt64) {
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
        expectDecodesOrThrowsItsError(Array(datagram.readableBytesView), key: [1, 2, 3], seed: seed)
    }

    /// Random bytes, mostly not STUN at all.
    @Test(arguments: TestSeeds.seeds(count: 300))
    func randomBytesDecodeOrThrowTheirError(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var bytes = (0..<Int.random(in: 0...120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        if bytes.count >= 8, Bool.random(using: &rng) {
            bytes[0] &= 0x3F
            bytes.replaceSubrange(4..<8, with: bigEndian(STUNConstants.magicCookie))
        }
        expectDecodesOrThrowsItsError(bytes, key: [], seed: seed)
    }

    /// `bytes` decode, or the decoder throws the error a reference reading of the bytes predicts:
    /// - the header's errors exactly, in the order of RFC 8489 §5's fields: length, the two zero bits, the magic
    ///   cookie, the length's alignment, then the length against the datagram;
    /// - an attribute's value running past the message exactly, with its type, length and the bytes left;
    /// - every other attribute error names the type of an attribute that starts on a boundary of the walk.
    /// What decodes is whole: every attribute framed, and the message is the datagram.
    private func expectDecodesOrThrowsItsError(_ bytes: [UInt8], key: [UInt8]?, seed: UInt64) {
        let context = Comment(rawValue: "seed \(seed): \(bytes)")
        let reference = ReferenceFraming(bytes)
        do {
            let message = try STUNMessage(decoding: ByteBuffer(bytes: bytes))
            #expect(reference.headerError == nil && reference.truncation == nil, context)
            #expect(Array(message.buffer.readableBytesView) == bytes, context)
            exerciseAccessors(message, key: key)
        } catch {
            if let headerError = reference.headerError {
                #expect(error == headerError, context)
            } else if case .truncatedAttribute = error {
                #expect(error == reference.truncation, context)
            } else {
                let type = error.attributeType
                #expect(type.map { reference.framedTypes.contains($0) } == true, "\(error); \(context)")
            }
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

/// What a datagram's framing says, read independently of the decoder: the header's error, if any, and the
/// attributes' type-length-value walk up to the first value that runs past the message.
struct ReferenceFraming {
    var headerError: STUNDecodeError?
    var framedTypes: Set<UInt16> = []
    var truncation: STUNDecodeError?

    init(_ bytes: [UInt8]) {
        func read16(_ index: Int) -> Int { Int(bytes[index]) << 8 | Int(bytes[index + 1]) }
        guard bytes.count >= 20 else {
            self.headerError = .tooShort(length: bytes.count)
            return
        }
        guard bytes[0] & 0xC0 == 0 else {
            self.headerError = .notSTUN(firstByte: bytes[0])
            return
        }
        let cookie = UInt32(read16(4)) << 16 | UInt32(read16(6))
        guard cookie == 0x2112_A442 else {
            self.headerError = .badMagicCookie(cookie)
            return
        }
        let length = read16(2)
        guard length % 4 == 0 else {
            self.headerError = .unalignedLength(length)
            return
        }
        guard length == bytes.count - 20 else {
            self.headerError = .lengthMismatch(declared: length, actual: bytes.count - 20)
            return
        }
        var offset = 20
        while offset < bytes.count {
            let type = UInt16(read16(offset))
            let valueLength = read16(offset + 2)
            let padded = (valueLength + 3) / 4 * 4
            let available = bytes.count - offset - 4
            guard padded <= available else {
                self.truncation = .truncatedAttribute(type: type, length: valueLength, available: available)
                return
            }
            self.framedTypes.insert(type)
            offset += 4 + padded
        }
    }
}

extension STUNDecodeError {
    /// The attribute an attribute-level error names; nil for the header's errors.
    var attributeType: UInt16? {
        switch self {
        case .tooShort, .notSTUN, .badMagicCookie, .unalignedLength, .lengthMismatch: nil
        case .badFingerprint: STUNConstants.AttributeType.fingerprint
        case .truncatedAttribute(let type, _, _), .malformedAttribute(let type, _),
            .invalidAddressFamily(let type, _), .invalidUTF8(let type), .attributeAfterFingerprint(let type):
            type
        }
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
