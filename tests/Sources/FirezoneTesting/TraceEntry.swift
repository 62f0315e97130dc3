import FirezoneTime
import IPPacket

/// One thing that happened to one datagram in a ``Simulation``.
public struct TraceEntry: Sendable, Hashable, CustomStringConvertible {
    public enum Event: Sendable, Hashable, CustomStringConvertible {
        /// The host's node sent it.
        case sent(host: String)
        /// The host's link dropped it.
        case lost(link: String)
        /// The host's link delivered it twice; a copy follows with the same number.
        case duplicated(link: String)
        /// The router rewrote its source on the way out to the public source in the entry.
        case translatedSource(router: String, from: IPSocketAddress)
        /// The router rewrote its destination on the way in to the internal destination in the entry.
        case translatedDestination(router: String, from: IPSocketAddress)
        /// The router had no live mapping for its destination.
        case noMapping(router: String)
        /// The router had a mapping, but its filter refused the source.
        case filtered(router: String)
        /// No host or router has its destination address, or its source address is not the sender's.
        case unroutable
        case delivered(host: String)

        public var description: String {
            switch self {
            case .sent(let host): "sent by \(host)"
            case .lost(let link): "lost on \(link)'s link"
            case .duplicated(let link): "duplicated on \(link)'s link"
            case .translatedSource(let router, let from): "\(router) translated source \(from)"
            case .translatedDestination(let router, let from): "\(router) translated destination \(from)"
            case .noMapping(let router): "\(router) has no mapping"
            case .filtered(let router): "filtered by \(router)"
            case .unroutable: "unroutable"
            case .delivered(let host): "delivered to \(host)"
            }
        }
    }

    public var time: Instant
    /// The datagram's number, in the order nodes sent them; copies keep the number.
    public var datagram: Int
    /// Source and destination as the datagram carries them at this point (after any translation).
    public var source: IPSocketAddress
    public var destination: IPSocketAddress
    public var length: Int
    public var event: Event

    public init(
        time: Instant,
        datagram: Int,
        source: IPSocketAddress,
        destination: IPSocketAddress,
        length: Int,
        event: Event
    ) {
        self.time = time
        self.datagram = datagram
        self.source = source
        self.destination = destination
        self.length = length
        self.event = event
    }

    public var description: String {
        "\(self.time) #\(self.datagram) \(self.source) > \(self.destination) \(self.length) B \(self.event)"
    }
}
