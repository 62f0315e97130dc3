import ConnlibCore
import IPPacket
import NIOCore
import Testing

/// Messages written out byte by byte, so that the parser is checked against RFC 1035 §4.1 rather than against the
/// builder.
enum DNSBytes {
    static func header(id: UInt16 = 0x1234, flags: UInt16 = 0x0100, counts: [UInt16] = [1, 0, 0, 0]) -> [UInt8] {
        var bytes = [UInt8(id >> 8), UInt8(id & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF)]
        for count in counts {
            bytes += [UInt8(count >> 8), UInt8(count & 0xFF)]
        }
        return bytes
    }

    static func name(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for label in text.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes += Array(label.utf8)
        }
        return bytes + [0]
    }

    static func question(_ text: String, type: UInt16 = 1) -> [UInt8] {
        name(text) + [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
    }

    /// An OPT record offering 4096 bytes, with one option (RFC 7873 cookie, 8 bytes).
    static let opt: [UInt8] = [0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]

    static func query(_ text: String, type: UInt16 = 1, id: UInt16 = 0x1234, edns: Bool = false) -> ByteBuffer {
        ByteBuffer(
            bytes: header(id: id, counts: [1, 0, 0, edns ? 1 : 0]) + question(text, type: type) + (edns ? opt : [])
        )
    }
}

@Suite struct DNSMessageTests {
    @Test func aQueryYieldsItsIDFlagsAndOneLowerCasedQuestion() throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("GitLab.Corp", type: 28, id: 0xBEEF))
        #expect(query.id == 0xBEEF)
        #expect(!query.isResponse && query.recursionDesired && query.opcode == 0)
        #expect(query.question == DNSQuestion(name: try DomainName("gitlab.corp"), type: .aaaa))
        #expect(query.ednsUDPPayloadSize == nil)
    }

    @Test func anEDNSQueryKeepsItsPayloadSizeAndPassesOverTheOptions() throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("corp", edns: true))
        #expect(query.ednsUDPPayloadSize == 4096)
        #expect(query.additionals.isEmpty)
    }

    @Test func aResponseCopiesIDOpcodeRDAndTheQuestionBytesAndSetsQRAndRA() throws {
        let queryBytes = DNSBytes.query("GitLab.Corp", id: 0x4242)
        let query = try DNSMessage(parsingQuery: queryBytes)
        let response = query.makeResponse(code: .noError)
        let bytes = Array(response.readableBytesView)
        #expect(bytes[0...1] == [0x42, 0x42])
        #expect(bytes[2...3] == [0x81, 0x80])  // QR, RD, RA; NOERROR
        #expect(bytes[4...11] == [0, 1, 0, 0, 0, 0, 0, 0])
        // The question keeps the query's spelling.
        #expect(bytes[12...] == Array(queryBytes.readableBytesView)[12...])
    }

    @Test func addressAnswersAreARecordsAndAAAARecordsWithTheirTTLOwnedByTheQuestion() throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("app.corp"))
        let v4 = IPAddress.v4(IPv4Address(100, 96, 0, 1))
        let v6 = IPAddress.v6(IPv6Address("fd00:2021:1111:8000::1")!)
        let response = try DNSMessage(
            parsingResponse: query.makeResponse(code: .noError, answers: [.address(v4), .address(v6)], ttl: 1)
        )
        #expect(response.id == 0x1234 && response.responseCode == .noError)
        #expect(response.answerAddresses == [v4, v6])
        #expect(response.answers.map(\.type) == [.a, .aaaa])
        #expect(response.answers.allSatisfy { $0.ttl == 1 && $0.name == query.question?.name && $0.class == .internet })
        // Each answer's owner is the two-byte pointer to offset 12.
        let bytes = Array(response.bytes.readableBytesView)
        let answerStart = 12 + DNSBytes.question("app.corp").count
        #expect(bytes[answerStart...answerStart + 1] == [0xC0, 0x0C])
    }

    @Test func aPointerAnswerCarriesTheNameUncompressed() throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("1.0.96.100.in-addr.arpa", type: 12))
        let response = try DNSMessage(
            parsingResponse: query.makeResponse(code: .noError, answers: [.pointer(try DomainName("app.corp"))], ttl: 1)
        )
        let answer = try #require(response.answers.first)
        #expect(answer.type == .ptr)
        #expect(Array(answer.data.readableBytesView) == DNSBytes.name("app.corp"))
    }

    @Test(arguments: [DNSResponseCode.nameError, .serverFailure, .noError])
    func responsesWithoutAnswersCarryTheirCode(_ code: DNSResponseCode) throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("corp"))
        let response = try DNSMessage(parsingResponse: query.makeResponse(code: code))
        #expect(response.responseCode == code)
        #expect(response.answers.isEmpty)
        #expect(response.question == query.question)
    }

    @Test func serverFailureIsBuiltFromTheQuery() throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("corp", id: 7))
        let response = try DNSMessage(parsingResponse: query.makeServerFailure())
        #expect(response.id == 7 && response.responseCode == .serverFailure && response.question == query.question)
    }

    @Test func aResponseToAnEDNSQueryCarriesAnOPTRecord() throws {
        let query = try DNSMessage(parsingQuery: DNSBytes.query("corp", edns: true))
        let response = try DNSMessage(parsingResponse: query.makeResponse(code: .noError))
        #expect(response.ednsUDPPayloadSize == DNSConstants.ednsUDPPayloadSize)
        let plain = try DNSMessage(parsingQuery: DNSBytes.query("corp"))
        #expect(try DNSMessage(parsingResponse: plain.makeResponse(code: .noError)).ednsUDPPayloadSize == nil)
    }

    @Test func anUpstreamResponseWithCompressedNamesYieldsItsAddresses() throws {
        // www.corp CNAME app.corp, app.corp A 10.0.0.7: the CNAME's owner points at the question, its data and the
        // A record's owner at names before them.
        var bytes = DNSBytes.header(flags: 0x8180, counts: [1, 2, 0, 0]) + DNSBytes.question("www.corp")
        let cnameData: [UInt8] = [3] + Array("app".utf8) + [0xC0, 16]  // "app" + the "corp" of the question
        bytes += [0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, UInt8(cnameData.count)]
        let cnameDataOffset = bytes.count
        bytes += cnameData
        bytes += [0xC0, UInt8(cnameDataOffset), 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 7]
        let response = try DNSMessage(parsingResponse: ByteBuffer(bytes: bytes))
        #expect(response.answers.map(\.name) == [try DomainName("www.corp"), try DomainName("app.corp")])
        #expect(response.answerAddresses == [.v4(IPv4Address(10, 0, 0, 7))])
    }

    @Test func aBuiltQueryParsesBack() throws {
        let question = DNSQuestion(name: try DomainName("_sip._tcp.corp"), type: .srv)
        let query = try DNSMessage(parsingQuery: DNSMessage.makeQuery(id: 9, question: question))
        #expect(query.id == 9 && query.question == question && query.recursionDesired)
    }

    // MARK: Malformed input

    private func queryError(_ bytes: [UInt8]) -> DNSMessageError? {
        do {
            _ = try DNSMessage(parsingQuery: ByteBuffer(bytes: bytes))
            return nil
        } catch {
            return error
        }
    }

    private func responseError(_ bytes: [UInt8]) -> DNSMessageError? {
        do {
            _ = try DNSMessage(parsingResponse: ByteBuffer(bytes: bytes))
            return nil
        } catch {
            return error
        }
    }

    @Test func fewerThanTwelveBytesAreATruncatedHeader() {
        #expect(queryError(Array(DNSBytes.header().prefix(11))) == .truncatedHeader)
    }

    @Test func aQuestionRunningPastTheEndIsTruncated() {
        let bytes = DNSBytes.header() + DNSBytes.question("app.corp")
        #expect(queryError(Array(bytes.dropLast(1))) == .truncated)
        #expect(queryError(DNSBytes.header() + [5] + Array("ab".utf8)) == .truncated)
    }

    @Test func labelTypesZeroOneAndOneZeroAreReserved() {
        #expect(queryError(DNSBytes.header() + [0x41, 0, 0, 1, 0, 1]) == .reservedLabelType(0x41))
        #expect(queryError(DNSBytes.header() + [0x80, 0, 0, 1, 0, 1]) == .reservedLabelType(0x80))
    }

    @Test func aQuestionCannotUseCompressionBecauseNothingPrecedesIt() {
        // A pointer to the question's own start would loop; one into the header reads no name.
        #expect(queryError(DNSBytes.header() + [0xC0, 12, 0, 1, 0, 1]) == .invalidCompressionPointer(12))
        #expect(queryError(DNSBytes.header() + [0xC0, 2, 0, 1, 0, 1]) == .invalidCompressionPointer(2))
    }

    @Test func aPointerMustPointBeforeThePreviousOneSoThatNoChainLoops() {
        // Answer 1 owns "a" then points to the question (fine); answer 2 points to answer 1's "a", whose pointer
        // leads further back: fine too. A name pointing at itself or forward is rejected.
        let base = DNSBytes.header(flags: 0x8180, counts: [1, 1, 0, 0]) + DNSBytes.question("corp")
        let selfPointer = base.count
        let looping = base + [0xC0, UInt8(selfPointer), 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
        #expect(responseError(looping) == .invalidCompressionPointer(selfPointer))
        let forward = base + [0xC0, UInt8(selfPointer + 2), 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
        #expect(responseError(forward) == .invalidCompressionPointer(selfPointer + 2))
        // A label, then a pointer back to that very label: "a.a.a..." without end.
        let labelLoop =
            base + [1, UInt8(ascii: "a"), 0xC0, UInt8(selfPointer), 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
        #expect(responseError(labelLoop) == .invalidCompressionPointer(selfPointer))
    }

    @Test func aNameLongerThan255BytesThroughPointersIsRejected() {
        // Question: 4 labels of 60; answer: 4 more labels of 60, then a pointer to the question: 481 bytes.
        let long = Array(repeating: String(repeating: "a", count: 60), count: 4).joined(separator: ".")
        var bytes = DNSBytes.header(flags: 0x8180, counts: [1, 1, 0, 0]) + DNSBytes.question(long)
        bytes += Array(DNSBytes.name(long).dropLast()) + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
        #expect(responseError(bytes) == .invalidName(.nameTooLong))
    }

    @Test func aQueryWithTheQRBitIsNotAQueryAndTheReverse() {
        #expect(queryError(DNSBytes.header(flags: 0x8100) + DNSBytes.question("corp")) == .unexpectedDirection)
        #expect(responseError(DNSBytes.header(flags: 0x0100) + DNSBytes.question("corp")) == .unexpectedDirection)
    }

    @Test func aQueryCarriesExactlyOneQuestion() {
        #expect(queryError(DNSBytes.header(counts: [0, 0, 0, 0])) == .unsupportedQuestionCount(0))
        let two = DNSBytes.header(counts: [2, 0, 0, 0]) + DNSBytes.question("a.corp") + DNSBytes.question("b.corp")
        #expect(queryError(two) == .unsupportedQuestionCount(2))
        #expect(responseError(DNSBytes.header(flags: 0x8180, counts: [0, 0, 0, 0])) == nil)
    }

    @Test func aQueryWithAnswerRecordsIsRejected() {
        let bytes =
            DNSBytes.header(counts: [1, 1, 0, 0]) + DNSBytes.question("corp")
            + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
        #expect(queryError(bytes) == .unexpectedRecordsInQuery)
    }

    @Test func addressRecordsOfTheWrongLengthAreRejected() {
        let base = DNSBytes.header(flags: 0x8180, counts: [1, 1, 0, 0]) + DNSBytes.question("corp")
        #expect(
            responseError(base + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5]) == .invalidAddressLength(5)
        )
        #expect(
            responseError(base + [0xC0, 12, 0, 28, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]) == .invalidAddressLength(4)
        )
    }

    @Test func recordDataRunningPastTheEndIsTruncated() {
        let bytes =
            DNSBytes.header(flags: 0x8180, counts: [1, 1, 0, 0]) + DNSBytes.question("corp")
            + [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 1, 0, 9, 1, 2]
        #expect(responseError(bytes) == .truncated)
    }

    @Test func bytesAfterTheLastRecordAreRejected() {
        #expect(queryError(DNSBytes.header() + DNSBytes.question("corp") + [0, 0]) == .trailingBytes(2))
    }

    @Test func anOPTRecordOutsideTheAdditionalSectionOrTwiceIsMisplaced() {
        let twice = DNSBytes.header(counts: [1, 0, 0, 2]) + DNSBytes.question("corp") + DNSBytes.opt + DNSBytes.opt
        #expect(queryError(twice) == .misplacedOPT)
        let inAnswers =
            DNSBytes.header(flags: 0x8180, counts: [1, 1, 0, 0]) + DNSBytes.question("corp") + DNSBytes.opt
        #expect(responseError(inAnswers) == .misplacedOPT)
    }
}

@Suite struct DNSTCPFramerTests {
    private func framed(_ message: ByteBuffer) throws -> [UInt8] {
        Array(try DNSTCPFramer.frame(message).readableBytesView)
    }

    @Test func aMessageSplitAcrossReadsComesOutWhole() throws {
        let query = DNSBytes.query("app.corp")
        var framer = DNSTCPFramer()
        var messages: [ByteBuffer] = []
        for byte in try framed(query) {
            framer.append(ByteBuffer(bytes: [byte]))
            if let message = try framer.nextMessage() {
                messages.append(message)
            }
        }
        #expect(messages == [query])
        #expect(framer.bufferedBytes == 0)
    }

    @Test func severalMessagesInOneReadComeOutInOrder() throws {
        let first = DNSBytes.query("a.corp", id: 1)
        let second = DNSBytes.query("b.corp", id: 2)
        var framer = DNSTCPFramer()
        // Both, plus the first byte of a third prefix.
        framer.append(ByteBuffer(bytes: try framed(first) + framed(second) + [0]))
        #expect(try framer.nextMessage() == first)
        #expect(try framer.nextMessage() == second)
        #expect(try framer.nextMessage() == nil)
        #expect(framer.bufferedBytes == 1)
    }

    @Test func aTwoKilobyteAnswerIsFramedAndReassembled() throws {
        var query = try DNSMessage(parsingQuery: DNSBytes.query("big.corp"))
        let addresses = (0..<120).map { IPAddress.v6(IPv6Address(high: 0xfd00, low: UInt64($0))) }
        let answer = query.makeResponse(code: .noError, answers: addresses.map { .address($0) }, ttl: 1)
        #expect(answer.readableBytes > 2048)
        let bytes = try framed(answer)
        #expect(bytes[0...1] == [UInt8(answer.readableBytes >> 8), UInt8(answer.readableBytes & 0xFF)])
        var framer = DNSTCPFramer()
        framer.append(ByteBuffer(bytes: bytes[..<1000]))
        #expect(try framer.nextMessage() == nil)
        framer.append(ByteBuffer(bytes: bytes[1000...]))
        let message = try #require(try framer.nextMessage())
        query = try DNSMessage(parsingResponse: message)
        #expect(query.answerAddresses == addresses)
    }

    @Test func aZeroLengthPrefixIsAnError() {
        var framer = DNSTCPFramer()
        framer.append(ByteBuffer(bytes: [0, 0, 1, 2]))
        #expect(throws: DNSTCPFramingError.emptyMessage) { try framer.nextMessage() }
    }

    @Test func aMessageLongerThanALengthPrefixCanSayCannotBeFramed() {
        let tooLong = ByteBuffer(repeating: 0, count: 65_536)
        #expect(throws: DNSTCPFramingError.messageTooLong(65_536)) { try DNSTCPFramer.frame(tooLong) }
    }
}
