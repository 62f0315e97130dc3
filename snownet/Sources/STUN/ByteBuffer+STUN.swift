import NIOCore

extension ByteBuffer {
    // MARK: Transaction ID

    /// The transaction ID at `index`, or nil if fewer than 12 bytes are readable there.
    @inlinable
    public func getTransactionID(at index: Int) -> TransactionID? {
        guard let high = self.getInteger(at: index, as: UInt32.self),
            let low = self.getInteger(at: index + 4, as: UInt64.self)
        else {
            return nil
        }
        return TransactionID(high: high, low: low)
    }

    @inlinable
    public mutating func readTransactionID() -> TransactionID? {
        guard let transactionID = self.getTransactionID(at: self.readerIndex) else {
            return nil
        }
        self.moveReaderIndex(forwardBy: STUNConstants.transactionIDLength)
        return transactionID
    }

    @inlinable
    @discardableResult
    public mutating func setTransactionID(_ transactionID: TransactionID, at index: Int) -> Int {
        self.setInteger(transactionID.high, at: index) + self.setInteger(transactionID.low, at: index + 4)
    }

    @inlinable
    @discardableResult
    public mutating func writeTransactionID(_ transactionID: TransactionID) -> Int {
        self.writeInteger(transactionID.high) + self.writeInteger(transactionID.low)
    }

    // MARK: Padding

    /// Writes `count` padding bytes of value `byte`.
    @inlinable
    @discardableResult
    mutating func writePadding(_ count: Int, byte: UInt8) -> Int {
        self.writeRepeatingByte(byte, count: count)
    }
}
