/// RFC 9293 §3.4: sequence numbers are compared modulo 2^32, the difference read as a signed 32-bit number.
extension UInt32 {
    /// `self - other` in sequence space: positive when `self` comes after `other`.
    func sequenceDistance(from other: UInt32) -> Int {
        Int(Int32(bitPattern: self &- other))
    }

    func isSequenceAfter(_ other: UInt32) -> Bool {
        self.sequenceDistance(from: other) > 0
    }
}
