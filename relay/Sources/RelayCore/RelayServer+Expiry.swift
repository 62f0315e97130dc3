import FirezoneTime
import IPPacket

/// A port held for a later allocation (RFC 8656 §7.2, EVEN-PORT with R set), on its username's quota.
struct Reservation {
    var port: AllocationPort
    var family: IPVersion
    var username: String
    var expiresAt: Instant
}

/// A moment at which some state may expire. Popped in time order, ties broken by kind and key, so expiry is
/// deterministic.
///
/// Each allocation, binding and reservation has one live entry, whose time it records (`scheduledExpiry`,
/// `scheduled`). A refresh that pushes an expiry later changes only the state: when the entry comes due, it is
/// put back at the new time. Only an expiry brought earlier adds an entry, and the entry it supersedes is skipped
/// when popped. So a client that refreshes ten thousand times leaves one entry, not ten thousand.
struct Deadline: Comparable {
    enum Kind: Comparable {
        case allocationExpiry(AllocationPort)
        /// The binding's expiry while bound, the end of its reuse delay once lapsed.
        case channel(ClientChannel)
        case reservationExpiry(UInt64)

        var reason: StaticString {
            switch self {
            case .reservationExpiry: "port reservation expiry"
            case .allocationExpiry: "allocation expiry"
            case .channel: "channel binding expiry or reuse delay"
            }
        }
    }

    var at: Instant
    var kind: Kind

    static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        (lhs.at, lhs.kind) < (rhs.at, rhs.kind)
    }
}

extension RelayServer {
    mutating func expire(_ deadline: Deadline, now: Instant) {
        switch deadline.kind {
        case .allocationExpiry(let port):
            guard let allocation = self.allocations[port], allocation.scheduledExpiry == deadline.at else {
                return
            }
            if allocation.expiresAt <= now {
                self.logger.debug("Allocation expired", metadata: ["allocation.port": "\(port)"])
                self.deleteAllocation(at: port)
            } else {
                self.allocations[port]?.scheduledExpiry = allocation.expiresAt
                self.deadlines.insert(Deadline(at: allocation.expiresAt, kind: .allocationExpiry(port)))
            }
        case .channel(let key):
            guard var binding = self.channels[key], binding.scheduled == deadline.at else {
                return
            }
            switch binding.state {
            case .bound(let expiresAt) where expiresAt <= now:
                let reusableAt = expiresAt + RelayConstants.channelReuseDelay
                binding.state = .unbound(reusableAt: reusableAt)
                self.stats.channels -= 1
                self.commands.append(
                    .deleteChannelBinding(
                        client: key.client,
                        channel: key.channel,
                        peer: binding.peer,
                        port: binding.port
                    )
                )
                self.reschedule(&binding, at: reusableAt)
            case .bound(let expiresAt):
                self.reschedule(&binding, at: expiresAt)
            case .unbound(let reusableAt) where reusableAt <= now:
                self.forgetChannel(key, binding: binding)
            case .unbound(let reusableAt):
                self.reschedule(&binding, at: reusableAt)
            }
        case .reservationExpiry(let token):
            if let reservation = self.reservations[token], reservation.expiresAt <= now {
                self.forgetReservation(token)
            }
        }
    }

    private mutating func reschedule(_ binding: inout ChannelBinding, at time: Instant) {
        let key = ClientChannel(client: binding.client, channel: binding.channel)
        binding.scheduled = time
        self.channels[key] = binding
        self.deadlines.insert(Deadline(at: time, kind: .channel(key)))
    }

    /// Sets an allocation's expiry, adding a deadline only if it comes before the one already pending.
    mutating func setExpiry(of port: AllocationPort, to expiresAt: Instant) {
        guard var allocation = self.allocations[port] else {
            return
        }
        allocation.expiresAt = expiresAt
        if expiresAt < allocation.scheduledExpiry {
            allocation.scheduledExpiry = expiresAt
            self.deadlines.insert(Deadline(at: expiresAt, kind: .allocationExpiry(port)))
        }
        self.allocations[port] = allocation
    }

    /// Deletes an allocation with its channels, telling the shell to stop relaying them and close its ports: those
    /// open now, and those it has yet to report on once it reports them open.
    mutating func deleteAllocation(at port: AllocationPort) {
        guard let allocation = self.allocations.removeValue(forKey: port) else {
            return
        }
        for channel in allocation.channels.sorted() {
            let key = ClientChannel(client: allocation.client, channel: channel)
            guard let binding = self.channels[key] else {
                continue
            }
            if binding.isBound {
                self.stats.channels -= 1
                self.commands.append(
                    .deleteChannelBinding(client: key.client, channel: key.channel, peer: binding.peer, port: port)
                )
            }
            self.forgetChannel(key, binding: binding)
        }
        for family in allocation.families {
            if allocation.opening?.opened.contains(family) ?? true {
                self.commands.append(.freeAllocation(port, family))
            }
        }
        if allocation.opening != nil {
            for index in self.portsOpening.indices where self.portsOpening[index].allocationID == allocation.id {
                self.portsOpening[index].abandoned = true
            }
        }
        self.allocationByClient[allocation.client] = nil
        self.holdingsByUsername[allocation.username, default: UsernameHoldings()].ports.remove(port)
        self.forgetEmptyHoldings(of: allocation.username)
        self.stats.allocations -= 1
    }

    mutating func forgetReservation(_ token: UInt64) {
        guard let reservation = self.reservations.removeValue(forKey: token) else {
            return
        }
        self.reservedPorts.remove(reservation.port)
        self.holdingsByUsername[reservation.username, default: UsernameHoldings()].reservationTokens.remove(token)
        self.forgetEmptyHoldings(of: reservation.username)
    }

    private mutating func forgetEmptyHoldings(of username: String) {
        if self.holdingsByUsername[username]?.count == 0 {
            self.holdingsByUsername[username] = nil
        }
    }

    private mutating func forgetChannel(_ key: ClientChannel, binding: ChannelBinding) {
        self.channels[key] = nil
        self.channelByPeer[PortAndPeer(port: binding.port, peer: binding.peer)] = nil
        self.allocations[binding.port]?.channels.remove(key.channel)
    }
}
