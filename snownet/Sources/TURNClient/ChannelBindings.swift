import FirezoneTime
import IPPacket
import STUN

/// An allocation's channel numbers (RFC 8656 §12), with Firezone's rules (`allocation.rs`, `ChannelBindings`):
/// numbers are handed out round-robin, a number stays with its peer as long as it is remembered, data may be sent
/// on a binding still in flight (Firezone #10062), and a binding on which data arrived is re-bound at half its
/// lifetime.
///
/// Lookups by number go to a slot per number (``ChannelSlots``), by peer through a hash; ``dueForRefresh(now:)``
/// walks the numbers in order, so that the order of the requests it starts is deterministic.
struct ChannelBindings {
    struct Channel {
        var peer: IPSocketAddress
        /// Whether the server confirmed a CHANNEL-BIND; stays true while a refresh is in flight.
        var bound: Bool
        /// When the number was last asked for (first bind) or confirmed (bind or refresh).
        var boundAt: Instant
        /// Whether data arrived on it since `boundAt`: only such channels are refreshed.
        var receivedSinceBind: Bool
        /// Whether a CHANNEL-BIND for it is outstanding.
        var bindInFlight: Bool
    }

    private(set) var byNumber = ChannelSlots<Channel>()
    private var byPeer: [IPSocketAddress: UInt16] = [:]
    private var nextNumber = TURNClientConstants.channelNumbers.lowerBound

    var count: Int { self.byNumber.count }

    func channel(_ number: ChannelNumber) -> Channel? {
        self.byNumber[number.value]
    }

    /// The number to send data to `peer` on: bound or in flight, and younger than a binding's lifetime.
    func usableChannel(to peer: IPSocketAddress, now: Instant) -> ChannelNumber? {
        guard let number = self.byPeer[peer], let channel = self.byNumber[number],
            now - channel.boundAt < TURNClientConstants.channelLifetime
        else {
            return nil
        }
        return ChannelNumber(number)
    }

    /// Whether `number` is the usable channel to `peer` (``usableChannel(to:now:)``): a record names a peer only while
    /// that peer's number is the record's, so checking the record by number is enough.
    func isUsable(_ number: ChannelNumber, to peer: IPSocketAddress, now: Instant) -> Bool {
        guard let channel = self.byNumber[number.value], channel.peer == peer else {
            return false
        }
        return now - channel.boundAt < TURNClientConstants.channelLifetime
    }

    func bindInFlight(to peer: IPSocketAddress) -> Bool {
        self.byPeer[peer].flatMap { self.byNumber[$0] }?.bindInFlight ?? false
    }

    /// The peer of a bound channel, marking that data arrived on it.
    mutating func receive(on number: ChannelNumber) -> IPSocketAddress? {
        guard let channel = self.byNumber[number.value], channel.bound else {
            return nil
        }
        if !channel.receivedSinceBind {
            // Written once per bind, not per packet: a second hash of the number on every relayed packet.
            self.byNumber[number.value]?.receivedSinceBind = true
        }
        return channel.peer
    }

    /// A number for a new CHANNEL-BIND to `peer`, marked in flight: the peer's own number if it has one (binding a
    /// number again to the same peer is always allowed), else the next free or reusable one; nil when every number
    /// is taken.
    mutating func startBind(to peer: IPSocketAddress, now: Instant) -> ChannelNumber? {
        if let number = self.byPeer[peer], var channel = self.byNumber[number] {
            channel.bound = false
            channel.boundAt = now
            channel.receivedSinceBind = false
            channel.bindInFlight = true
            self.byNumber[number] = channel
            return ChannelNumber(number)
        }
        guard let number = self.freeNumber(now: now) else {
            return nil
        }
        if let previous = self.byNumber[number] {
            self.byPeer[previous.peer] = nil
        }
        self.byNumber[number] = Channel(
            peer: peer,
            bound: false,
            boundAt: now,
            receivedSinceBind: false,
            bindInFlight: true
        )
        self.byPeer[peer] = number
        let range = TURNClientConstants.channelNumbers
        self.nextNumber = number == range.upperBound ? range.lowerBound : number + 1
        return ChannelNumber(number)
    }

    /// Marks a refresh of `number` as in flight.
    mutating func startRefresh(_ number: ChannelNumber) {
        self.byNumber[number.value]?.bindInFlight = true
    }

    /// The first number from the round-robin position that was never used or whose last bind is so old that
    /// RFC 8656 §12 lets it go to another peer.
    private func freeNumber(now: Instant) -> UInt16? {
        let range = TURNClientConstants.channelNumbers
        let size = Int(range.upperBound - range.lowerBound) + 1
        let start = Int(self.nextNumber - range.lowerBound)
        for offset in 0..<size {
            let number = range.lowerBound + UInt16((start + offset) % size)
            guard let channel = self.byNumber[number] else {
                return number
            }
            let reusableAfter = TURNClientConstants.channelLifetime + TURNClientConstants.channelReuseDelay
            if !channel.bindInFlight && now - channel.boundAt >= reusableAfter {
                return number
            }
        }
        return nil
    }

    /// A CHANNEL-BIND succeeded: the binding lives for `channelLifetime` from `now`.
    mutating func confirm(_ number: ChannelNumber, peer: IPSocketAddress, now: Instant) -> Bool {
        guard var channel = self.byNumber[number.value], channel.peer == peer else {
            return false
        }
        channel.bound = true
        channel.boundAt = now
        channel.receivedSinceBind = false
        channel.bindInFlight = false
        self.byNumber[number.value] = channel
        return true
    }

    /// A CHANNEL-BIND was abandoned: the number stays with its peer, nothing is in flight.
    mutating func bindAbandoned(_ number: ChannelNumber) {
        self.byNumber[number.value]?.bindInFlight = false
    }

    /// A CHANNEL-BIND failed: the number is forgotten.
    mutating func forget(_ number: ChannelNumber) {
        guard let channel = self.byNumber.removeValue(forKey: number.value) else {
            return
        }
        if self.byPeer[channel.peer] == number.value {
            self.byPeer[channel.peer] = nil
        }
    }

    /// Bound channels with data since their last bind, at least half a lifetime old and not being refreshed, by
    /// number.
    func dueForRefresh(now: Instant) -> [(ChannelNumber, IPSocketAddress)] {
        self.byNumber.elements.filter { _, channel in
            channel.bound && !channel.bindInFlight && channel.receivedSinceBind
                && now - channel.boundAt >= TURNClientConstants.channelRefreshAge
        }
        .map { (ChannelNumber($0.number), $0.element.peer) }
    }

    mutating func removeAll() {
        self.byNumber.removeAll()
        self.byPeer.removeAll()
    }
}
