import CLibBPF

/// How the program is attached: `EBPF_ATTACH_MODE` of Firezone's relay (rust/relay/server/src/main.rs).
public enum XDPAttachMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// In the driver, before the kernel allocates a socket buffer ("native"): the fast path.
    case driver
    /// After the kernel built a socket buffer ("skb mode"): works on any interface, at a fraction of the speed.
    case generic

    var flags: UInt32 {
        switch self {
        case .driver: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        }
    }

    public var description: String { self.rawValue }
}
