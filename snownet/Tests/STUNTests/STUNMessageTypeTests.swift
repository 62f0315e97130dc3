import FirezoneTesting
import STUN
import Testing

struct STUNMessageTypeTests {
    /// Message types as they appear on the wire, worked out from RFC 8489 §5's bit layout and matching the
    /// values of RFC 5769's samples (0x0001, 0x0101) and RFC 8656 §17.
    @Test(arguments: [
        (STUNMethod.binding, STUNClass.request, UInt16(0x0001)),
        (.binding, .indication, 0x0011),
        (.binding, .successResponse, 0x0101),
        (.binding, .errorResponse, 0x0111),
        (.allocate, .request, 0x0003),
        (.allocate, .successResponse, 0x0103),
        (.allocate, .errorResponse, 0x0113),
        (.refresh, .request, 0x0004),
        (.refresh, .successResponse, 0x0104),
        (.send, .indication, 0x0016),
        (.data, .indication, 0x0017),
        (.createPermission, .request, 0x0008),
        (.createPermission, .successResponse, 0x0108),
        (.channelBind, .request, 0x0009),
        (.channelBind, .errorResponse, 0x0119),
        (STUNMethod(rawValue: 0xFFF), .request, 0x3EEF),
        (STUNMethod(rawValue: 0xFFF), .errorResponse, 0x3FFF),
    ])
    func interleavesMethodAndClass(method: STUNMethod, messageClass: STUNClass, rawValue: UInt16) throws {
        let type = STUNMessageType(method: method, class: messageClass)
        #expect(type.rawValue == rawValue)
        let decoded = try #require(STUNMessageType(rawValue: rawValue))
        #expect(decoded == type)
    }

    @Test func everyMethodAndClassRoundTrips() {
        for method in 0...STUNMethod.maximumRawValue {
            for messageClass in STUNClass.allCases {
                let type = STUNMessageType(method: STUNMethod(rawValue: method), class: messageClass)
                #expect(type.rawValue & 0xC000 == 0)
                #expect(STUNMessageType(rawValue: type.rawValue) == type)
            }
        }
    }

    /// RFC 8489 §5: "The most significant 2 bits of every STUN message MUST be zeroes."
    @Test(arguments: [UInt16(0x4000), 0x8000, 0xC001, 0x4101])
    func rejectsTypesWithTheTopBitsSet(rawValue: UInt16) {
        #expect(STUNMessageType(rawValue: rawValue) == nil)
    }

    @Test func describesMethodsByName() {
        #expect(
            STUNMessageType(method: .channelBind, class: .errorResponse).description == "CHANNEL-BIND error response"
        )
        #expect(STUNMethod(rawValue: 0x0AB).description == "0xab")
    }
}

struct TransactionIDTests {
    @Test func roundTripsItsTwelveBytes() {
        let bytes: [UInt8] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae]
        let transactionID = TransactionID(bytes: bytes)
        #expect(transactionID.high == 0xb7e7_a701)
        #expect(transactionID.low == 0xbc34_d686_fa87_dfae)
        #expect(transactionID.bytes == bytes)
        #expect(transactionID.description == "b7e7a701bc34d686fa87dfae")
        #expect(TransactionID(bytes: bytes[...]) == transactionID)
    }

    @Test func isDrawnFromTheGivenGenerator() {
        var first = SeededRandomNumberGenerator(seed: 7)
        var second = SeededRandomNumberGenerator(seed: 7)
        let a = TransactionID(using: &first)
        let b = TransactionID(using: &second)
        let c = TransactionID(using: &first)
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }

    @Test func printsLeadingZeros() {
        #expect(TransactionID(high: 0, low: 1).description == "000000000000000000000001")
    }
}
