import FirezoneTime
import IPPacket

/// A port held for a later allocation (RFC 8656 §7.2, EVEN-PORT with R set).
struct Reservation {
    var port: AllocationPort
    var family: IPVersion
    var expiresAt: Instant
}

/// A moment at which some state may expire. Popped in time order, ties broken by kind and key, so expiry is
/// deterministic; stale entries (the state was refreshed or deleted since) are skipped.
struct Deadline: Comparable {
    enum Kind: Comparable {
        case allocationExpiry(AllocationPort)
        case channelExpiry(ClientChannel)
        case channelReuse(ClientChannel)
        case reservationExpiry(UInt64)

        var reason: StaticString {
            switch self {
            case .reservationExpiry: "port reservation expiry"
            case .allocationExpiry: "allocation expiry"
            case .channelExpiry: "channel binding expiry"
            case .channelReuse: "channel reuse delay"
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
            if let allocation = self.allocations[port], allocation.expiresAt <= now {
                self.logger.debug("Allocation expired", metadata: ["allocation.port": "\(port)"])
                self.deleteAllocation(at: port)
            }
        case .channelExpiry(let key):
            if var binding = self.channels[key], case .bound(let expiresAt) = binding.state, expiresAt <= now {
                let reusableAt = expiresAt + RelayConstants.channelReuseDelay
                binding.state = .unbound(reusableAt: reusableAt)
                self.channels[key] = binding
                self.deadlines.insert(Deadline(at: reusableAt, kind: .channelReuse(key)))
                self.stats.channels -= 1
                self.commands.append(
                    .deleteChannelBinding(client: key.client, channel: key.channel, peer: binding.peer, port: binding.port)
                )
            }
        case .reservationExpiry(let token):
            if let reservation = self.reservations[token], reservation.expiresAt <= now {
                self.reservations[token] = nil
                self.reservedPorts.remove(reservation.port)
            }
        case .channelReuse(let key):
            if let binding = self.channels[key], case .unbound(let reusableAt) = binding.state, reusableAt <= now {
                self.forgetChannel(key, binding: binding)
            }
        }
    }

    /// Deletes an allocation with its channels, telling the shell to stop relaying them and close its ports.
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
            self.commands.append(.freeAllocation(port, family))
        }
        self.allocationByClient[allocation.client] = nil
        if self.clientByUsername[allocation.username] == allocation.client {
            self.clientByUsername[allocation.username] = nil
        }
        self.stats.allocations -= 1
    }

    private mutating func forgetChannel(_ key: ClientChannel, binding: ChannelBinding) {
        self.channels[key] = nil
        self.channelByPeer[PortAndPeer(port: binding.port, peer: binding.peer)] = nil
        self.allocations[binding.port]?.channels.remove(key.channel)
    }
}
