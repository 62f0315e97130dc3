import NIOCore

extension ByteBuffer {
    /// This buffer if it has the room ``Node/encapsulate(_:for:now:)`` seals a packet in, ``NodeConstants/headroom``
    /// bytes before its readable bytes and ``NodeConstants/tailroom`` after them; else a copy that has it.
    public func withEncapsulationRoom() -> ByteBuffer {
        if self.readerIndex >= NodeConstants.headroom && self.writableBytes >= NodeConstants.tailroom {
            return self
        }
        var copy = ByteBufferAllocator().buffer(
            capacity: NodeConstants.headroom + self.readableBytes + NodeConstants.tailroom
        )
        copy.moveWriterIndex(forwardBy: NodeConstants.headroom)
        copy.moveReaderIndex(forwardBy: NodeConstants.headroom)
        copy.writeImmutableBuffer(self)
        return copy
    }
}
