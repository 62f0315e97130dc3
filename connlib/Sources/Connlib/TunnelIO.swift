import Glibc
import IPPacket
import LinuxIO
import NIOCore
import Snownet
import WireGuard

/// What an event loop hands an ``EventLoopDriver`` for the tunnel: the state's datagrams for the UDP sockets and
/// its packets for the TUN device, held where the driver can reach them until it sends or writes the batch
/// (Firezone's rust/connlib/tunnel/src/io.rs), and the local address a datagram arrived on.
///
/// The driver queues pointers, not copies. On the data path the state opens a datagram or seals a packet in the
/// driver's own storage (its receive slot or TUN region, which stays put until the batch is sent), and it leaves
/// from there: ``queueTUNWrite(openedIn:storage:)`` and ``queueSend(sealedIn:storage:to:)`` keep nothing. What the
/// state made itself (handshakes, ICMP errors, DNS answers) is kept until ``flush()`` or ``batchFlushed()`` says
/// the driver is done with it: a datagram's payload in ``queuedPayloads``, a packet copied into the TUN arena.
/// Both are sized once, so a turn does not allocate per packet.
public final class TunnelIO {
    /// Bytes kept for packets queued for the TUN device until the batch is written; full, the queue is written
    /// early. 64 packets of the largest size, with the virtio-net header in front of each.
    public static let tunArenaCapacity = 64 * (65_536 + Int(FZ_VNET_HEADER_LENGTH))

    /// The driver the event loop runs on.
    public let driver: EventLoopDriver
    private let sockets: TunnelSockets
    private var sourceAddresses = SourceAddressCache()
    /// The last sender a datagram came from and our address toward it: datagrams arrive in runs from one peer, and
    /// this spares each of them the cache's hash of the address.
    private var lastSource: (remote: IPAddress, local: IPAddress)?
    private let localPorts: (v4: UInt16, v6: UInt16?)
    /// Payloads queued with the driver: they must stay where they are until it sends them.
    private var queuedPayloads: [ByteBuffer] = []
    private let tunArena: UnsafeMutableRawBufferPointer
    private var tunArenaUsed = 0
    /// Datagrams for an address family the host has no socket for.
    public private(set) var datagramsWithoutSocket: UInt64 = 0

    public init(driver: EventLoopDriver, sockets: TunnelSockets, tunArenaCapacity: Int = TunnelIO.tunArenaCapacity) {
        self.driver = driver
        self.sockets = sockets
        self.localPorts = (
            TunnelSockets.localPort(of: sockets.ipv4) ?? 0, sockets.ipv6.flatMap { TunnelSockets.localPort(of: $0) }
        )
        self.queuedPayloads.reserveCapacity(EventLoopDriver.sendCapacity)
        self.tunArena = .allocate(byteCount: tunArenaCapacity, alignment: 16)
    }

    deinit {
        self.tunArena.deallocate()
    }

    /// Registers the offload TUN device `tun` and the tunnel's sockets with the driver under the given tokens; the
    /// TUN layout leaves room for snownet's headers and WireGuard's padding around each packet read.
    public func register(tun: Int32, tunToken: UInt64, udp4Token: UInt64, udp6Token: UInt64) throws(SystemCallError) {
        try self.driver.register(
            tun: tun,
            token: tunToken,
            layout: .init(
                headroom: NodeConstants.headroom,
                paddingMultiple: WireGuardConstants.paddingMultiple,
                tailroom: NodeConstants.tailroom
            )
        )
        try self.driver.register(udp: self.sockets.ipv4, token: udp4Token)
        if let ipv6 = self.sockets.ipv6 {
            try self.driver.register(udp: ipv6, token: udp6Token)
        }
    }

    /// The local address and port a datagram from `source` arrived on, on the IPv6 socket when `onIPv6`.
    ///
    /// A datagram does not say which of our addresses it came to; the route toward its sender does.
    public func localAddress(ofDatagramFrom source: IPSocketAddress, onIPv6: Bool) -> IPSocketAddress {
        let port = onIPv6 ? self.localPorts.v6 ?? 0 : self.localPorts.v4
        if let last = self.lastSource, last.remote == source.address {
            return IPSocketAddress(last.local, port: port)
        }
        guard let address = self.sourceAddresses.localAddress(toward: source.address) else {
            return IPSocketAddress(
                onIPv6 ? .v6(IPv6Address(high: 0, low: 0)) : .v4(IPv4Address(rawValue: 0)),
                port: port
            )
        }
        self.lastSource = (source.address, address)
        return IPSocketAddress(address, port: port)
    }

    /// Forgets the cached local addresses: the host's addresses or routes changed.
    public func resetSourceAddresses() {
        self.lastSource = nil
        self.sourceAddresses.reset()
    }

    /// Queues a datagram with the driver on the socket of its destination's family; counted and dropped when the
    /// host has none.
    public func queueSend(_ transmit: NodeTransmit) {
        guard let fd = self.socket(for: transmit.destination) else {
            return
        }
        if self.queuedPayloads.count == EventLoopDriver.sendCapacity {
            // The driver would send its full queue on the next call anyway; sending now frees the payloads.
            self.flush()
        }
        let payload = transmit.payload
        self.queuedPayloads.append(payload)
        payload.withUnsafeReadableBytes { raw in
            self.queue(
                UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: UInt8.self)),
                length: raw.count,
                from: transmit.source,
                to: transmit.destination,
                on: fd
            )
        }
    }

    /// Queues the datagram the state sealed in place in `buffer`, a TUN packet the driver handed over in its region
    /// at `storage`: it leaves from there, nothing is copied or kept.
    public func queueSend(
        sealedIn buffer: ByteBuffer,
        storage: UnsafeMutablePointer<UInt8>,
        to destination: NodeDestination
    ) {
        assert(
            EventLoopDriver.storageBase(of: buffer) == UnsafeRawPointer(storage),
            "sealed in the driver's TUN region"
        )
        guard let fd = self.socket(for: destination.destination) else {
            return
        }
        self.queue(
            storage + buffer.readerIndex,
            length: buffer.readableBytes,
            from: destination.source,
            to: destination.destination,
            on: fd
        )
    }

    private func socket(for destination: IPSocketAddress) -> Int32? {
        guard let fd = self.sockets.socket(for: destination.address) else {
            self.datagramsWithoutSocket += 1
            return nil
        }
        return fd
    }

    /// `source`, when set, is the local address of the ICE pair the datagram belongs to: it leaves from that
    /// address (IP_PKTINFO), as Firezone's rust/connlib/socket-factory sends with a source, since the peer and any
    /// NAT in between know the pair by it. The port is the socket's own: one socket per family.
    private func queue(
        _ bytes: UnsafeMutablePointer<UInt8>,
        length: Int,
        from source: IPSocketAddress?,
        to destination: IPSocketAddress,
        on fd: Int32
    ) {
        var datagram = fz_datagram()
        datagram.setDestination(destination)
        datagram.localAddress = source?.address
        datagram.bytes = bytes
        datagram.length = UInt32(length)
        self.driver.queueSend(datagram, on: fd)
    }

    /// Queues the packet the state opened in place in a datagram the driver received into its slot at `storage`:
    /// it is written from there, nothing is copied or kept. The virtio-net header goes into the bytes in front of
    /// it, which held the WireGuard header; a packet without that room is copied into the arena.
    @discardableResult
    public func queueTUNWrite(openedIn packet: IPPacket, storage: UnsafeMutablePointer<UInt8>) -> Bool {
        assert(
            EventLoopDriver.storageBase(of: packet.buffer) == UnsafeRawPointer(storage),
            "opened in the driver's slot"
        )
        guard packet.buffer.readerIndex >= Int(FZ_VNET_HEADER_LENGTH) else {
            return self.queueTUNWrite(packet)
        }
        self.driver.queueTUNWrite(storage + packet.buffer.readerIndex, length: packet.buffer.readableBytes)
        return true
    }

    /// Copies a packet into the arena behind room for the virtio-net header and queues it for the TUN device;
    /// false when the packet is larger than the whole arena and is dropped.
    @discardableResult
    public func queueTUNWrite(_ packet: IPPacket) -> Bool {
        let header = Int(FZ_VNET_HEADER_LENGTH)
        let length = packet.buffer.readableBytes
        if self.tunArenaUsed + header + length > self.tunArena.count {
            self.flush()
        }
        guard self.tunArenaUsed + header + length <= self.tunArena.count else {
            return false
        }
        let start = self.tunArena.baseAddress! + self.tunArenaUsed + header
        packet.buffer.withUnsafeReadableBytes { raw in
            start.copyMemory(from: raw.baseAddress!, byteCount: raw.count)
        }
        self.tunArenaUsed += header + length
        self.driver.queueTUNWrite(start.assumingMemoryBound(to: UInt8.self), length: length)
        return true
    }

    /// Sends and writes everything queued, then frees what it held.
    public func flush() {
        self.driver.flush()
        self.batchFlushed()
    }

    /// Frees what the queues held once the driver has sent and written the batch.
    public func batchFlushed() {
        self.queuedPayloads.removeAll(keepingCapacity: true)
        self.tunArenaUsed = 0
    }
}
