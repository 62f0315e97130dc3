import IPPacket
import NIOCore

/// The question of a message (RFC 1035 §4.1.2).
public struct DNSQuestion: Hashable, Sendable {
    public var name: DomainName
    public var type: DNSRecordType
    public var `class`: DNSClass

    public init(name: DomainName, type: DNSRecordType, class: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.class = `class`
    }
}

/// A resource record (RFC 1035 §4.1.3); its data stays a slice of the message.
public struct DNSResourceRecord: Hashable, Sendable {
    public var name: DomainName
    public var type: DNSRecordType
    public var `class`: DNSClass
    public var ttl: UInt32
    public var data: ByteBuffer

    /// The address of an A or AAAA record of the Internet class (the lengths are checked when parsing).
    public var address: IPAddress? {
        guard self.class == .internet else {
            return nil
        }
        switch self.type {
        case .a:
            return self.data.getInteger(at: self.data.readerIndex, as: UInt32.self).map {
                .v4(IPv4Address(rawValue: $0))
            }
        case .aaaa:
            guard let high = self.data.getInteger(at: self.data.readerIndex, as: UInt64.self),
                let low = self.data.getInteger(at: self.data.readerIndex + 8, as: UInt64.self)
            else {
                return nil
            }
            return .v6(IPv6Address(high: high, low: low))
        default:
            return nil
        }
    }
}

/// A DNS message (RFC 1035 §4.1), parsed strictly: every name, question and record is read and checked, and the
/// bytes are kept so that a query can be forwarded as it came and a response can copy its question.
///
/// Names may use compression pointers (RFC 1035 §4.1.4) only to an offset before the name (after the header), and
/// each further pointer of the name only before the previous one: such a chain always ends. An EDNS OPT record
/// (RFC 6891 §6.1) in the additional section is recognised, its payload size kept, its options passed over.
public struct DNSMessage: Sendable {
    /// The whole message, as received.
    public let bytes: ByteBuffer
    public let id: UInt16
    /// The header's second 16 bits: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE (RFC 1035 §4.1.1, RFC 4035 §3.2).
    public let flags: UInt16
    /// The question; only a response may have none.
    public let question: DNSQuestion?
    public let answers: [DNSResourceRecord]
    public let authorities: [DNSResourceRecord]
    /// The additional records except OPT.
    public let additionals: [DNSResourceRecord]
    /// The requestor's UDP payload size from the OPT record (RFC 6891 §6.2.3), if the message has one.
    public let ednsUDPPayloadSize: UInt16?
    /// Where the question ends, relative to the start of the message.
    let questionEnd: Int

    public var isResponse: Bool { self.flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8(self.flags >> 11 & 0x0F) }
    public var isTruncated: Bool { self.flags & 0x0200 != 0 }
    public var recursionDesired: Bool { self.flags & 0x0100 != 0 }
    public var responseCode: DNSResponseCode { DNSResponseCode(rawValue: UInt8(self.flags & 0x000F)) }

    /// The addresses of the A and AAAA answers, in their order.
    public var answerAddresses: [IPAddress] {
        self.answers.compactMap(\.address)
    }

    /// Parses a query: QR clear, exactly one question (RFC 9619 §4), no answer or authority records.
    public init(parsingQuery bytes: ByteBuffer) throws(DNSMessageError) {
        try self.init(parsing: bytes)
        guard !self.isResponse else {
            throw .unexpectedDirection
        }
        guard self.question != nil else {
            throw .unsupportedQuestionCount(0)
        }
        guard self.answers.isEmpty, self.authorities.isEmpty else {
            throw .unexpectedRecordsInQuery
        }
    }

    /// Parses a response: QR set, at most one question.
    public init(parsingResponse bytes: ByteBuffer) throws(DNSMessageError) {
        try self.init(parsing: bytes)
        guard self.isResponse else {
            throw .unexpectedDirection
        }
    }

    private init(parsing bytes: ByteBuffer) throws(DNSMessageError) {
        var reader = DNSReader(bytes)
        guard bytes.readableBytes >= DNSConstants.headerLength else {
            throw .truncatedHeader
        }
        self.bytes = bytes
        self.id = try reader.readUInt16()
        self.flags = try reader.readUInt16()
        let questionCount = Int(try reader.readUInt16())
        let answerCount = Int(try reader.readUInt16())
        let authorityCount = Int(try reader.readUInt16())
        let additionalCount = Int(try reader.readUInt16())
        guard questionCount <= 1 else {
            throw .unsupportedQuestionCount(questionCount)
        }
        if questionCount == 1 {
            let name = try reader.readName()
            let type = DNSRecordType(rawValue: try reader.readUInt16())
            let `class` = DNSClass(rawValue: try reader.readUInt16())
            self.question = DNSQuestion(name: name, type: type, class: `class`)
        } else {
            self.question = nil
        }
        self.questionEnd = reader.offset

        var answers: [DNSResourceRecord] = []
        answers.reserveCapacity(min(answerCount, 16))
        for _ in 0..<answerCount {
            answers.append(try reader.readRecord(optAllowed: false))
        }
        var authorities: [DNSResourceRecord] = []
        for _ in 0..<authorityCount {
            authorities.append(try reader.readRecord(optAllowed: false))
        }
        var additionals: [DNSResourceRecord] = []
        var ednsUDPPayloadSize: UInt16? = nil
        for _ in 0..<additionalCount {
            let record = try reader.readRecord(optAllowed: true)
            if record.type == .opt {
                // RFC 6891 §6.1.1: at most one OPT per message, owned by the root.
                guard ednsUDPPayloadSize == nil, record.name.isRoot else {
                    throw .misplacedOPT
                }
                ednsUDPPayloadSize = record.class.rawValue
            } else {
                additionals.append(record)
            }
        }
        guard reader.offset == bytes.readableBytes else {
            throw .trailingBytes(bytes.readableBytes - reader.offset)
        }
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
        self.ednsUDPPayloadSize = ednsUDPPayloadSize
    }
}

/// Reads a message from its start with offsets relative to it, as compression pointers count them.
private struct DNSReader {
    let bytes: ByteBuffer
    var offset = 0

    init(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }

    private func byte(at offset: Int) throws(DNSMessageError) -> UInt8 {
        guard let byte = self.bytes.getInteger(at: self.bytes.readerIndex + offset, as: UInt8.self) else {
            throw .truncated
        }
        return byte
    }

    mutating func readUInt16() throws(DNSMessageError) -> UInt16 {
        let value = UInt16(try self.byte(at: self.offset)) << 8 | UInt16(try self.byte(at: self.offset + 1))
        self.offset += 2
        return value
    }

    mutating func readUInt32() throws(DNSMessageError) -> UInt32 {
        let value = UInt32(try self.readUInt16()) << 16
        return value | UInt32(try self.readUInt16())
    }

    /// RFC 1035 §4.1.4: a sequence of labels ending in a zero octet, or in a pointer, or labels then a pointer.
    mutating func readName() throws(DNSMessageError) -> DomainName {
        var labels: [[UInt8]] = []
        var position = self.offset
        // Where reading continues in the message once the name is read: after its first pointer, if any.
        var end: Int? = nil
        // Every pointer must point before this: first the name's own start, then the previous pointer's target.
        var limit = self.offset
        var pointers = 0
        var wireLength = 1
        while true {
            let length = try self.byte(at: position)
            switch length & DNSConstants.compressionPointerMask {
            case 0x00:
                if length == 0 {
                    self.offset = end ?? position + 1
                    do {
                        return try DomainName(wireLabels: labels)
                    } catch {
                        throw .invalidName(error)
                    }
                }
                wireLength += 1 + Int(length)
                guard wireLength <= DNSConstants.maximumNameLength else {
                    throw .invalidName(.nameTooLong)
                }
                let start = self.bytes.readerIndex + position + 1
                guard let label = self.bytes.getBytes(at: start, length: Int(length)) else {
                    throw .truncated
                }
                labels.append(label)
                position += 1 + Int(length)
            case DNSConstants.compressionPointerMask:
                let target =
                    Int(length & ~DNSConstants.compressionPointerMask) << 8 | Int(try self.byte(at: position + 1))
                guard target >= DNSConstants.headerLength, target < limit else {
                    throw .invalidCompressionPointer(target)
                }
                pointers += 1
                guard pointers <= DNSConstants.maximumCompressionPointers else {
                    throw .tooManyCompressionPointers
                }
                if end == nil {
                    end = position + 2
                }
                limit = target
                position = target
            default:
                throw .reservedLabelType(length)
            }
        }
    }

    mutating func readRecord(optAllowed: Bool) throws(DNSMessageError) -> DNSResourceRecord {
        let name = try self.readName()
        let type = DNSRecordType(rawValue: try self.readUInt16())
        let `class` = DNSClass(rawValue: try self.readUInt16())
        let ttl = try self.readUInt32()
        let length = Int(try self.readUInt16())
        if type == .opt, !optAllowed {
            throw .misplacedOPT
        }
        if `class` == .internet {
            if type == .a, length != 4 {
                throw .invalidAddressLength(length)
            }
            if type == .aaaa, length != 16 {
                throw .invalidAddressLength(length)
            }
        }
        guard let data = self.bytes.getSlice(at: self.bytes.readerIndex + self.offset, length: length) else {
            throw .truncated
        }
        self.offset += length
        return DNSResourceRecord(name: name, type: type, class: `class`, ttl: ttl, data: data)
    }
}
