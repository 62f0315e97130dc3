import IPPacket
import PortalMessages

/// The traffic a resource's filters let through to it (Firezone's connlib, rust/connlib/tunnel/src/peer.rs,
/// `FilterEngine`).
///
/// Filters are judged on the protocol of the resource's side of a flow: the destination port of a packet to the
/// resource, the identifier of an ICMP echo. An empty filter list permits everything, any IP protocol included;
/// a non-empty one permits only the TCP and UDP port ranges it lists and, with an ICMP filter, ICMP echoes.
public struct FilterEngine: Hashable, Sendable {
    private enum Rules: Hashable, Sendable {
        case permitAll
        /// Port ranges sorted by lower bound, overlapping and adjacent ranges merged.
        case permitSome(tcp: [ClosedRange<UInt16>], udp: [ClosedRange<UInt16>], icmp: Bool)
    }

    private let rules: Rules

    /// Everything passes: a resource without filters.
    public static let permitAll = FilterEngine([])

    public init(_ filters: [Filter]) {
        guard !filters.isEmpty else {
            self.rules = .permitAll
            return
        }
        var tcp: [ClosedRange<UInt16>] = []
        var udp: [ClosedRange<UInt16>] = []
        var icmp = false
        for filter in filters {
            switch filter {
            // A filter without a port range covers every port (connlib's defaults 0 and 65535).
            case .tcp(let ports): tcp.append(ports ?? 0...UInt16.max)
            case .udp(let ports): udp.append(ports ?? 0...UInt16.max)
            case .icmp: icmp = true
            }
        }
        self.rules = .permitSome(tcp: Self.merged(tcp), udp: Self.merged(udp), icmp: icmp)
    }

    /// What several resources covering one address let through together: a packet passes the merged engine
    /// exactly when it passes one of `engines` (Firezone's gateway merges the filters of the resources covering
    /// an address, rust/connlib/tunnel/src/gateway/client_on_gateway.rs). No engines permit nothing.
    public init(merging engines: some Sequence<FilterEngine>) {
        var tcp: [ClosedRange<UInt16>] = []
        var udp: [ClosedRange<UInt16>] = []
        var icmp = false
        for engine in engines {
            switch engine.rules {
            case .permitAll:
                self.rules = .permitAll
                return
            case .permitSome(let engineTCP, let engineUDP, let engineICMP):
                tcp += engineTCP
                udp += engineUDP
                icmp = icmp || engineICMP
            }
        }
        self.rules = .permitSome(tcp: Self.merged(tcp), udp: Self.merged(udp), icmp: icmp)
    }

    /// Whether a packet to the resource may pass, judged on its destination port or ICMP echo identifier. A packet
    /// without either (ICMP other than echo, another IP protocol) passes only when the resource has no filters.
    public func permits(_ packet: IPPacket) -> Bool {
        switch self.rules {
        case .permitAll:
            return true
        case .permitSome:
            guard let destination = try? packet.destinationProtocol() else {
                return false
            }
            return self.permits(destination)
        }
    }

    /// Whether traffic on the resource's side `protocol` (its port, or an ICMP echo) may pass.
    public func permits(_ protocol: TransportProtocol) -> Bool {
        switch self.rules {
        case .permitAll:
            return true
        case .permitSome(let tcp, let udp, let icmp):
            switch `protocol` {
            case .tcp(let port): return Self.contains(tcp, port)
            case .udp(let port): return Self.contains(udp, port)
            case .icmpEcho: return icmp
            }
        }
    }

    private static func contains(_ ranges: [ClosedRange<UInt16>], _ port: UInt16) -> Bool {
        for range in ranges where range.contains(port) {
            return true
        }
        return false
    }

    private static func merged(_ ranges: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>] {
        var merged: [ClosedRange<UInt16>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound || range.lowerBound - 1 == last.upperBound {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }
}
