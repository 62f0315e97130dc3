import NIOCore
import Snownet
import Testing

@Suite struct EncapsulationRoomTests {
    @Test func aBufferWithRoomIsKeptAndOneWithoutIsCopiedBehindTheHeadroom() {
        var roomy = ByteBufferAllocator().buffer(capacity: NodeConstants.headroom + 3 + NodeConstants.tailroom)
        roomy.moveWriterIndex(forwardBy: NodeConstants.headroom)
        roomy.moveReaderIndex(forwardBy: NodeConstants.headroom)
        roomy.writeBytes([1, 2, 3])
        let kept = roomy.withEncapsulationRoom()
        #expect(kept.readerIndex == NodeConstants.headroom)

        let tight = ByteBuffer(bytes: [1, 2, 3])
        let copied = tight.withEncapsulationRoom()
        #expect(copied.readerIndex == NodeConstants.headroom)
        #expect(copied.writableBytes >= NodeConstants.tailroom)
        #expect(Array(copied.readableBytesView) == [1, 2, 3])
    }
}
