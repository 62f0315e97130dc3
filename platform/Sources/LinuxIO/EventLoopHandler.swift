import FirezoneTime
import NIOCore

/// What an ``EventLoopDriver`` calls: the IO shell's side of the loop, which hands bytes and time to its sans-IO
/// core and queues what the core sends with the driver.
///
/// Every call happens on the thread that runs the driver. `source` is the token the shell registered the
/// descriptor with. The driver is generic over its handler: no existential box and no closure stands between a
/// datagram and the handler.
public protocol EventLoopHandler: AnyObject {
    /// The earliest time the core wants ``handleTimeout(now:)``, or nil when nothing is timed.
    func nextDeadline() -> Instant?

    /// Called once per turn when ``nextDeadline()`` has passed.
    func handleTimeout(now: Instant)

    /// One datagram from a UDP source, a GRO receive already split: `datagram`'s readable bytes, which the handler
    /// may modify in place (decrypt, strip a header) but must not grow or replace, and of which it keeps no
    /// reference past the batch: the driver receives into the same storage through a pointer, so the storage must
    /// stay this buffer's alone (a copy on write would move it). `received` is the receive as the kernel
    /// reported it: the sender's address, the local address it was sent to (`localAddress`, on a socket with
    /// `fz_udp_enable_local_address`), and in `bytes` the start of the slot's storage, so that
    /// `received.bytes + datagram.readerIndex` is where the readable bytes lie for a send or TUN write queued with
    /// the driver. The bytes stay valid until the batch ends (``didFinishBatch(source:now:)``).
    func handleDatagram(_ datagram: inout ByteBuffer, received: fz_datagram, source: UInt64, now: Instant)

    /// One IP packet from the TUN source, a TCP or UDP super-packet already cut into packets: `packet`'s readable bytes,
    /// with the ``EventLoopDriver/TUNLayout``'s headroom in front and room for padding and tailroom behind, so the
    /// handler can seal it in place; like a datagram's, its storage is the driver's and stays in `packet`. `storage + packet.readerIndex` is where the readable bytes lie. Valid until
    /// the batch ends.
    func handleTUNPacket(_ packet: inout ByteBuffer, storage: UnsafeMutablePointer<UInt8>, source: UInt64, now: Instant)

    /// A descriptor registered with ``EventLoopDriver/register(readable:token:)`` is readable. The handler reads
    /// it; epoll is level-triggered, so anything left is reported again on the next turn.
    func handleReadable(source: UInt64, now: Instant)

    /// A batch from `source` was handled and the driver sent what was queued; the core may now be polled for
    /// commands that change the set of sources.
    func didFinishBatch(source: UInt64, now: Instant)

    /// How many batches `source` may deliver in one turn (at least 1); ``EventLoopDriver/batchesPerTurn`` unless
    /// a shell weighs its sources differently.
    func batchesPerTurn(source: UInt64) -> Int
}

extension EventLoopHandler {
    public func handleTUNPacket(
        _ packet: inout ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        source: UInt64,
        now: Instant
    ) {}

    public func handleReadable(source: UInt64, now: Instant) {}

    public func didFinishBatch(source: UInt64, now: Instant) {}

    public func batchesPerTurn(source: UInt64) -> Int {
        EventLoopDriver.batchesPerTurn
    }
}
