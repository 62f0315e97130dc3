import LinuxIO
import Logging
import Relay

extension OpenFileLimit {
    /// Descriptors beyond the allocation sockets: the listening sockets, epoll, eventfd and signalfd, the health
    /// server's and the portal's connections, the XDP maps, standard streams.
    static let descriptorsBesideAllocations: UInt64 = 64

    /// The descriptors a relay with every allocation port taken holds: two sockets per allocation (one per family
    /// with ADDITIONAL-ADDRESS-FAMILY, RFC 8656 §7.2), plus ``descriptorsBesideAllocations``.
    static func descriptorsNeeded(by configuration: RelayConfiguration) -> UInt64 {
        UInt64(configuration.allocationPorts.count) * 2 + Self.descriptorsBesideAllocations
    }

    /// Raises the soft limit to the hard one and warns when the result cannot hold every allocation: allocations
    /// past it get 508 Insufficient Capacity when their socket cannot be opened.
    static func raise(toFit configuration: RelayConfiguration, logger: Logger) {
        let needed = Self.descriptorsNeeded(by: configuration)
        let ports = "\(configuration.allocationPorts.lowerBound)-\(configuration.allocationPorts.upperBound)"
        do {
            let limit = try Self.raiseToHardLimit()
            logger.info("Open-file limit", metadata: ["soft": "\(limit.soft)", "hard": "\(limit.hard)"])
            if limit.soft < needed {
                let message =
                    "The open-file limit (\(limit.soft)) is below the \(needed) descriptors the allocation ports "
                    + "\(ports) may need (two sockets per allocation): allocations past it get 508. Raise the hard "
                    + "limit (LimitNOFILE= in a systemd unit, ulimit -Hn, docker run --ulimit nofile=)."
                logger.warning("\(message)")
            }
        } catch {
            let message =
                "Cannot raise the open-file limit to fit the \(needed) descriptors the allocation ports \(ports) may "
                + "need: \(error)"
            logger.warning("\(message)")
        }
    }
}
