import NIOCore

/// A STUN message built by hand from raw attributes, for inputs the encoder will not write: unknown or malformed
/// attributes, wrong lengths. The header's length is correct unless `length` overrides it; values are padded
/// with zeros.
func rawMessage(
    type: UInt16 = 0x0001,
    transactionID: [UInt8] = Array(0x01...0x0C),
    attributes: [(type: UInt16, value: [UInt8])],
    length: Int? = nil
) -> ByteBuffer {
    var body = ByteBuffer()
    for attribute in attributes {
        body.writeInteger(attribute.type)
        body.writeInteger(UInt16(attribute.value.count))
        body.writeBytes(attribute.value)
        body.writeRepeatingByte(0, count: (4 - attribute.value.count % 4) % 4)
    }
    var message = ByteBuffer()
    message.writeInteger(type)
    message.writeInteger(UInt16(length ?? body.readableBytes))
    message.writeInteger(UInt32(0x2112_A442))
    message.writeBytes(transactionID)
    message.writeBuffer(&body)
    return message
}

/// The big-endian bytes of an integer.
func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<MemoryLayout<T>.size).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}
