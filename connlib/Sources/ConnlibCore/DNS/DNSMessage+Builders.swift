import IPPacket
import NIOCore

/// The data of an answer a stub resolver gives itself.
public enum DNSAnswer: Hashable, Sendable {
    /// An A record for an IPv4 address, an AAAA record for an IPv6 one.
    case address(IPAddress)
    /// A PTR record (RFC 1035 §3.3.12).
    case pointer(DomainName)
}

extension DNSMessage {
    /// A response to this query (RFC 1035 §4.1.1): same id, opcode, RD and CD bits, recursion available, the
    /// question copied byte for byte (so that a resolver that randomises the case of its names, as in
    /// draft-vixie-dnsext-dns0x20, sees its own spelling back), then the answers, each owned by the question's
    /// name through a compression pointer. A query that carried an OPT record gets one back (RFC 6891 §7).
    public func makeResponse(code: DNSResponseCode, answers: [DNSAnswer] = [], ttl: UInt32 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(self.questionEnd + answers.count * 28 + 11)
        let copiedFlags: UInt16 = self.flags & (0x7800 | 0x0100 | 0x0010)  // opcode, RD, CD
        buffer.writeInteger(self.id)
        buffer.writeInteger(0x8000 | copiedFlags | 0x0080 | UInt16(code.rawValue))
        buffer.writeInteger(UInt16(self.question == nil ? 0 : 1))
        buffer.writeInteger(UInt16(answers.count))
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt16(self.ednsUDPPayloadSize == nil ? 0 : 1))
        var question = self.bytes.getSlice(
            at: self.bytes.readerIndex + DNSConstants.headerLength,
            length: self.questionEnd - DNSConstants.headerLength
        )!
        buffer.writeBuffer(&question)
        for answer in answers {
            buffer.writeInteger(
                UInt16(DNSConstants.compressionPointerMask) << 8 | UInt16(DNSConstants.questionNameOffset)
            )
            switch answer {
            case .address(.v4(let address)):
                buffer.writeRecordHeader(type: .a, ttl: ttl, dataLength: 4)
                buffer.writeInteger(address.rawValue)
            case .address(.v6(let address)):
                buffer.writeRecordHeader(type: .aaaa, ttl: ttl, dataLength: 16)
                buffer.writeInteger(address.high)
                buffer.writeInteger(address.low)
            case .pointer(let name):
                buffer.writeRecordHeader(type: .ptr, ttl: ttl, dataLength: name.wireLength)
                buffer.writeDomainName(name)
            }
        }
        if self.ednsUDPPayloadSize != nil {
            // RFC 6891 §6.1.2: root owner, our payload size as the class, extended RCODE, version and flags zero.
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(DNSRecordType.opt.rawValue)
            buffer.writeInteger(DNSConstants.ednsUDPPayloadSize)
            buffer.writeInteger(UInt32(0))
            buffer.writeInteger(UInt16(0))
        }
        return buffer
    }

    /// This response cut to its header and question with the TC bit set and no records (RFC 1035 §4.1.1, RFC 2181
    /// §9): what the client writes into the TUN device instead of an answer too large for one UDP packet within the
    /// MTU, so that the application asks again over TCP (RFC 7766 §5).
    public func makeTruncated() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(self.questionEnd)
        buffer.writeInteger(self.id)
        buffer.writeInteger(self.flags | 0x0200)
        buffer.writeInteger(UInt16(self.question == nil ? 0 : 1))
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt16(0))
        var question = self.bytes.getSlice(
            at: self.bytes.readerIndex + DNSConstants.headerLength,
            length: self.questionEnd - DNSConstants.headerLength
        )!
        buffer.writeBuffer(&question)
        return buffer
    }

    /// SERVFAIL for this query: what the client answers when its upstream failed other than by timing out.
    public func makeServerFailure() -> ByteBuffer {
        self.makeResponse(code: .serverFailure)
    }

    /// A query for `question` with the RD bit set, as a stub sends it (RFC 1035 §4.1.1); for tests and for the
    /// gateway's resolutions.
    public static func makeQuery(id: UInt16, question: DNSQuestion) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(DNSConstants.headerLength + question.name.wireLength + 4)
        buffer.writeInteger(id)
        buffer.writeInteger(UInt16(0x0100))
        buffer.writeInteger(UInt16(1))
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt16(0))
        buffer.writeDomainName(question.name)
        buffer.writeInteger(question.type.rawValue)
        buffer.writeInteger(question.class.rawValue)
        return buffer
    }
}

extension ByteBuffer {
    /// Writes `name` uncompressed (RFC 1035 §3.1).
    mutating func writeDomainName(_ name: DomainName) {
        for label in name.labels {
            self.writeInteger(UInt8(label.utf8.count))
            self.writeString(label)
        }
        self.writeInteger(UInt8(0))
    }

    fileprivate mutating func writeRecordHeader(type: DNSRecordType, ttl: UInt32, dataLength: Int) {
        self.writeInteger(type.rawValue)
        self.writeInteger(DNSClass.internet.rawValue)
        self.writeInteger(ttl)
        self.writeInteger(UInt16(dataLength))
    }
}
