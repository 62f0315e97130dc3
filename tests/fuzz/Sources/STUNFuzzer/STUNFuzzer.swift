import FuzzSupport
import NIOCore
import STUN

// The `stun` fuzz target: the STUN message and TURN ChannelData decoders, on the same input.
//
// For every input: neither decoder traps. A STUN message that decodes reads back every accessor, verifies (or
// not) MESSAGE-INTEGRITY under a key without trapping, and re-encodes: its attributes written by
// `STUNMessageEncoder`, with MESSAGE-INTEGRITY and FINGERPRINT when it had them, decode to the same type,
// transaction ID and attributes, and the integrity and fingerprint the encoder computed verify. Channel data that
// decodes has a channel number in 0x4000–0x7FFF and exactly the payload its header declares, which `write(into:)`
// puts back byte for byte. Any violation is a `fatalError`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: start, count: start == nil ? 0 : count))
    checkSTUN(buffer)
    checkChannelData(buffer)
    return 0
}

/// A fixed key: the point is that verification never traps and agrees with what the encoder wrote.
let integrityKey = LongTermCredentials.key(username: "1700000000:fuzz", realm: "firezone", password: "fuzz")

func checkSTUN(_ buffer: ByteBuffer) {
    guard let message = try? STUNMessage(decoding: buffer) else {
        return
    }
    readAccessors(message)
    _ = message.verifyMessageIntegrity(key: integrityKey)
    if !message.hasMessageIntegrity {
        check(!message.verifyMessageIntegrity(key: integrityKey), "integrity verified without MESSAGE-INTEGRITY")
    }

    var encoded = ByteBuffer()
    STUNMessageEncoder.encode(
        type: message.type,
        transactionID: message.transactionID,
        attributes: message.attributes,
        messageIntegrityKey: message.hasMessageIntegrity ? integrityKey : nil,
        fingerprint: message.hasFingerprint,
        into: &encoded
    )
    let decoded: STUNMessage
    do {
        decoded = try STUNMessage(decoding: encoded)
    } catch {
        fatalError("a re-encoded message does not decode: \(error)")
    }
    check(decoded.type == message.type, "type \(message.type) became \(decoded.type)")
    check(decoded.transactionID == message.transactionID, "the transaction ID changed")
    check(decoded.attributes == message.attributes, "attributes \(message.attributes) became \(decoded.attributes)")
    check(decoded.hasFingerprint == message.hasFingerprint, "FINGERPRINT appeared or vanished")
    check(decoded.hasMessageIntegrity == message.hasMessageIntegrity, "MESSAGE-INTEGRITY appeared or vanished")
    if message.hasMessageIntegrity {
        check(decoded.verifyMessageIntegrity(key: integrityKey), "the encoder's MESSAGE-INTEGRITY does not verify")
    }
}

/// Every accessor, so that a trap in one of them is found.
func readAccessors(_ message: STUNMessage) {
    _ = message.mappedAddress
    _ = message.xorMappedAddress
    _ = message.xorRelayedAddresses
    _ = message.xorPeerAddress
    _ = message.username
    _ = message.realm
    _ = message.nonce
    _ = message.software
    _ = message.errorCode
    _ = message.lifetime
    _ = message.channelNumber
    _ = message.evenPort
    _ = message.reservationToken
    _ = message.requestedTransport
    _ = message.requestedAddressFamily
    _ = message.additionalAddressFamily
    _ = message.unknownAttributes
    _ = message.priority
    _ = message.useCandidate
    _ = message.iceControlled
    _ = message.iceControlling
}

func checkChannelData(_ buffer: ByteBuffer) {
    guard let channelData = try? ChannelData(decoding: buffer) else {
        return
    }
    check(ChannelData.channelNumbers.contains(channelData.channelNumber), "channel \(channelData.channelNumber)")
    let declared = Int(buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self)!)
    check(
        channelData.payload.readableBytes == declared,
        "payload of \(channelData.payload.readableBytes), not \(declared)"
    )

    var written = ByteBuffer()
    channelData.write(into: &written)
    let original = buffer.getSlice(at: buffer.readerIndex, length: ChannelData.headerLength + declared)
    check(written == original, "write(into:) does not reproduce the channel data")
}
