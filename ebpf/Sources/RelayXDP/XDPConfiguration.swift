import CRelayXDP
import IPPacket

/// What the program must know about the relay before it is loaded (it becomes read-only data the verifier sees).
public struct XDPConfiguration: Sendable, Hashable {
    /// The bindings each binding map holds unless ``bindingCapacity`` says otherwise (`relay_xdp.h`).
    public static let defaultBindingCapacity = Int(RELAY_XDP_MAXIMUM_BINDINGS)

    /// The relay's public addresses: a peer at one of them is another allocation on this relay (loopback).
    public var publicIPv4: IPv4Address?
    public var publicIPv6: IPv6Address?
    /// The interface's addresses: the source of packets translated from the other family. Firezone's
    /// `EBPF_INT4_ADDR` and `EBPF_INT6_ADDR`; without one, translation into that family is dropped and counted.
    public var interfaceIPv4: IPv4Address?
    public var interfaceIPv6: IPv6Address?
    public var listenPort: UInt16
    public var allocationPorts: ClosedRange<UInt16>
    /// The interface's MTU, if known: longer frames are GRO or GSO super-packets, which the program leaves to the
    /// kernel (`coalesced`) because only the kernel knows where their datagrams end.
    public var interfaceMTU: Int?
    /// How many bindings each of the eight binding maps holds; nil for `RELAY_XDP_MAXIMUM_BINDINGS`. A binding the
    /// maps cannot take is relayed by userspace, so a smaller capacity costs speed, never traffic.
    public var bindingCapacity: Int?

    public init(
        publicIPv4: IPv4Address?,
        publicIPv6: IPv6Address?,
        interfaceIPv4: IPv4Address?,
        interfaceIPv6: IPv6Address?,
        listenPort: UInt16,
        allocationPorts: ClosedRange<UInt16>,
        interfaceMTU: Int? = nil,
        bindingCapacity: Int? = nil
    ) {
        self.publicIPv4 = publicIPv4
        self.publicIPv6 = publicIPv6
        self.interfaceIPv4 = interfaceIPv4
        self.interfaceIPv6 = interfaceIPv6
        self.listenPort = listenPort
        self.allocationPorts = allocationPorts
        self.interfaceMTU = interfaceMTU
        self.bindingCapacity = bindingCapacity
    }

    /// The C layout of `relay_xdp.h`.
    var cValue: relay_xdp_config {
        var config = relay_xdp_config()
        withUnsafeMutableBytes(of: &config.public_ipv4) { Self.store(self.publicIPv4.map(IPAddress.v4), into: $0) }
        withUnsafeMutableBytes(of: &config.public_ipv6) { Self.store(self.publicIPv6.map(IPAddress.v6), into: $0) }
        withUnsafeMutableBytes(of: &config.interface_ipv4) {
            Self.store(self.interfaceIPv4.map(IPAddress.v4), into: $0)
        }
        withUnsafeMutableBytes(of: &config.interface_ipv6) {
            Self.store(self.interfaceIPv6.map(IPAddress.v6), into: $0)
        }
        config.listen_port = self.listenPort
        config.lowest_allocation_port = self.allocationPorts.lowerBound
        config.highest_allocation_port = self.allocationPorts.upperBound
        // The Ethernet header (14 bytes) comes on top of the MTU.
        config.maximum_frame_length = self.interfaceMTU.map { UInt32(clamping: $0 + 14) } ?? 0
        return config
    }

    /// An address in network byte order; nothing (all zero) when absent.
    private static func store(_ address: IPAddress?, into bytes: UnsafeMutableRawBufferPointer) {
        guard let address else { return }
        XDPKeyLayout.store(address, at: 0, into: bytes)
    }
}
