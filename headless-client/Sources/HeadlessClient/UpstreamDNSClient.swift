import Connlib
import ConnlibCore
import DequeModule
import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOCore
import OrderedCollections

/// Resolves the stub's ``RecursiveDNSQuery``s with the host's resolvers, outside the tunnel.
///
/// Every query gets a socket of its own, so a new ephemeral source port (RFC 5452 §9.2: an off-path attacker must
/// guess the port as well as the ID; Firezone's client and gateway do the same), marked with
/// connlib's fwmark (``TunnelRouting/firewallMark``) so that the policy rules send it around the tunnel rather than into it
/// (Firezone's rust/bin-shared/src/tun_device_manager/linux.rs). A UDP answer with the TC bit is asked again over
/// TCP (RFC 1035 §4.2.1, RFC 7766 §5), and a query can start over TCP.
///
/// The sockets live in an epoll set of their own, whose ``descriptor`` the shell registers with its
/// ``EventLoopDriver`` as one readable source: a connecting TCP socket must be watched for output, which the
/// driver's sources are not. Driving loop:
///
/// ```
/// while let query = state.pollDNSQuery() { client.send(query, over: query.transport, now: now) }
/// // descriptor readable:  client.handleReadable(now: now)
/// // deadline passed:      client.handleTimeout(now: now)
/// while let outcome = client.pollOutcome() { state.handleDNSResponse(outcome.query, result: outcome.result, now: now) }
/// ```
public final class UpstreamDNSClient {
    /// An answered or failed query.
    public struct Outcome: Sendable {
        public var query: RecursiveDNSQuery
        public var result: Result<ByteBuffer, DNSUpstreamFailure>
    }

    public struct Stats: Sendable, Equatable {
        /// Queries handed to ``send(_:over:now:)``.
        public var queries: UInt64 = 0
        public var answers: UInt64 = 0
        public var timeouts: UInt64 = 0
        /// Unreachable, refused, malformed answers, socket errors.
        public var failures: UInt64 = 0
        /// Failed at once because ``maximumInFlight`` queries were waiting.
        public var refusedBusy: UInt64 = 0
        /// Truncated UDP answers asked again over TCP.
        public var retriedOverTCP: UInt64 = 0
        /// Datagrams or TCP messages that were not the answer (another ID, not a response): dropped, the query
        /// keeps waiting (RFC 5452 §4.3).
        public var ignoredMessages: UInt64 = 0

        public init() {}
    }

    /// glibc's resolver gives up on a server after 5 s (resolv.conf(5), `timeout`): by then the application has
    /// retried or failed, so a later answer helps nobody.
    public static let defaultTimeout: Duration = .seconds(5)
    /// Each waiting query holds a socket; applications retry on their own, so a burst beyond this gets SERVFAIL
    /// rather than exhausting the process's descriptors.
    public static let defaultMaximumInFlight = 256
    /// The largest DNS message (a TCP length prefix's limit, RFC 1035 §4.2.2); UDP answers are never longer.
    static let largestMessage = 65_535
    /// Ready sockets served per ``handleReadable(now:)``; epoll is level-triggered, so the rest come next turn.
    static let readyPerCall = 64

    private enum Phase {
        /// UDP: the query is sent, the answer awaited.
        case awaitingDatagram
        /// TCP: connecting, then writing these framed bytes (what remains of them).
        case writing(ByteBuffer)
        /// TCP: reading the answer.
        case reading(DNSTCPFramer)
    }

    private struct Pending {
        var query: RecursiveDNSQuery
        var id: UInt16
        var fd: Int32
        var deadline: Instant
        var phase: Phase
    }

    /// The epoll set of the query sockets: readable when one of them is ready.
    public let descriptor: Int32
    public let timeout: Duration
    public let maximumInFlight: Int
    /// nil: sockets are not marked (tests without CAP_NET_ADMIN).
    public let mark: UInt32?
    public private(set) var stats = Stats()

    private let logger: Logger
    /// Waiting queries by token, in the order they started.
    private var pending: OrderedDictionary<UInt64, Pending> = [:]
    private var nextToken: UInt64 = 0
    private var outcomes: Deque<Outcome> = []
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private let readyTokens: UnsafeMutableBufferPointer<UInt64>

    public init(
        timeout: Duration = UpstreamDNSClient.defaultTimeout,
        maximumInFlight: Int = UpstreamDNSClient.defaultMaximumInFlight,
        mark: UInt32? = TunnelRouting.firewallMark,
        logger: Logger
    ) throws(SystemCallError) {
        precondition(maximumInFlight > 0, "at least one query must be able to wait")
        let epoll = fz_epoll_create()
        guard epoll >= 0 else {
            throw SystemCallError(operation: "epoll_create1", errno: -epoll)
        }
        self.descriptor = epoll
        self.timeout = timeout
        self.maximumInFlight = maximumInFlight
        self.mark = mark
        self.logger = logger
        self.receiveBuffer = .allocate(byteCount: Self.largestMessage, alignment: 8)
        self.readyTokens = .allocate(capacity: Self.readyPerCall)
        self.readyTokens.initialize(repeating: 0)
    }

    deinit {
        for entry in self.pending.values {
            _ = Glibc.close(entry.fd)
        }
        _ = Glibc.close(self.descriptor)
        self.receiveBuffer.deallocate()
        self.readyTokens.deallocate()
    }

    /// Queries waiting for an answer.
    public var inFlight: Int {
        self.pending.count
    }

    /// The next outcome, in the order they happened.
    public func pollOutcome() -> Outcome? {
        self.outcomes.popFirst()
    }

    /// When the oldest waiting query times out.
    public func nextDeadline() -> Instant? {
        // A query retried over TCP keeps its first deadline, so the order of starting is not the order of deadlines.
        self.pending.values.lazy.map(\.deadline).min()
    }

    /// Sends `query` to its server; the outcome comes from ``pollOutcome()``, at once if it cannot be sent.
    public func send(_ query: RecursiveDNSQuery, over transport: DNSTransport, now: Instant) {
        self.stats.queries += 1
        guard self.pending.count < self.maximumInFlight else {
            self.stats.refusedBusy += 1
            self.logger.debug("Too many DNS queries in flight", metadata: ["dns.in_flight": "\(self.pending.count)"])
            self.outcomes.append(Outcome(query: query, result: .failure(.failed)))
            return
        }
        guard let id = query.query.getInteger(at: query.query.readerIndex, as: UInt16.self),
            query.query.readableBytes >= DNSConstants.headerLength
        else {
            self.fail(query, reason: "query shorter than a DNS header")
            return
        }
        self.start(query, id: id, over: transport, deadline: now + self.timeout)
    }

    /// Serves the query sockets that are ready.
    public func handleReadable(now: Instant) {
        let ready = fz_epoll_wait(self.descriptor, self.readyTokens.baseAddress, UInt32(self.readyTokens.count), 0)
        for index in 0..<Int(max(ready, 0)) {
            let token = self.readyTokens[index]
            guard let entry = self.pending[token] else {
                continue
            }
            switch entry.phase {
            case .awaitingDatagram:
                self.receiveDatagram(token: token, entry)
            case .writing(let remaining):
                self.write(token: token, entry, remaining: remaining)
            case .reading(let framer):
                self.read(token: token, entry, framer: framer)
            }
        }
    }

    /// Ends the queries whose deadline has passed with `.timedOut`.
    public func handleTimeout(now: Instant) {
        let due = self.pending.elements.filter { $0.value.deadline <= now }
        for (token, entry) in due {
            self.stats.timeouts += 1
            self.finish(token: token, entry, .failure(.timedOut))
        }
    }

    // MARK: Sockets

    private func start(_ query: RecursiveDNSQuery, id: UInt16, over transport: DNSTransport, deadline: Instant) {
        let family = query.server.address.version == .v4 ? AF_INET : AF_INET6
        let type = transport == .udp ? SOCK_DGRAM : SOCK_STREAM
        let fd = Glibc.socket(family, Int32(type.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            self.fail(query, reason: "socket", errno: errno)
            return
        }
        if var mark = self.mark {
            guard setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
                let error = errno
                _ = Glibc.close(fd)
                self.fail(query, reason: "setsockopt SO_MARK", errno: error)
                return
            }
        }
        let connected = query.server.withSocketAddress { Glibc.connect(fd, $0, $1) }
        let connectError = connected == 0 ? 0 : errno
        guard connectError == 0 || (transport == .tcp && connectError == EINPROGRESS) else {
            _ = Glibc.close(fd)
            self.fail(query, reason: "connect", errno: connectError)
            return
        }

        let token = self.nextToken
        self.nextToken += 1
        let phase: Phase
        let watched: Int32
        switch transport {
        case .udp:
            let sent = query.query.withUnsafeReadableBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard sent == query.query.readableBytes else {
                let error = sent < 0 ? errno : EMSGSIZE
                _ = Glibc.close(fd)
                self.fail(query, reason: "send", errno: error)
                return
            }
            phase = .awaitingDatagram
            watched = fz_epoll_add(self.descriptor, fd, token)
        case .tcp:
            guard let framed = try? DNSTCPFramer.frame(query.query) else {
                _ = Glibc.close(fd)
                self.fail(query, reason: "query longer than a TCP length prefix says")
                return
            }
            phase = .writing(framed)
            watched = fz_epoll_add_output(self.descriptor, fd, token)
        }
        guard watched == 0 else {
            _ = Glibc.close(fd)
            self.fail(query, reason: "epoll_ctl", errno: -watched)
            return
        }
        self.pending[token] = Pending(query: query, id: id, fd: fd, deadline: deadline, phase: phase)
    }

    private func receiveDatagram(token: UInt64, _ entry: Pending) {
        while true {
            let received = Glibc.recv(entry.fd, self.receiveBuffer.baseAddress, self.receiveBuffer.count, 0)
            if received < 0 {
                let error = errno
                if error == EAGAIN || error == EWOULDBLOCK || error == EINTR {
                    return
                }
                // A connected UDP socket reports the server's ICMP port unreachable as ECONNREFUSED (udp(7)).
                self.failPending(token: token, entry, reason: "recv", errno: error)
                return
            }
            let answer = UnsafeRawBufferPointer(rebasing: self.receiveBuffer[0..<received])
            switch self.classify(answer, id: entry.id) {
            case .notTheAnswer:
                self.stats.ignoredMessages += 1
                continue
            case .malformed:
                self.failPending(token: token, entry, reason: "answer shorter than a DNS header")
                return
            case .answer(let truncated):
                if truncated {
                    // RFC 7766 §5: a truncated answer is asked again over TCP, within the same deadline.
                    self.stats.retriedOverTCP += 1
                    _ = Glibc.close(entry.fd)
                    self.pending.removeValue(forKey: token)
                    self.start(entry.query, id: entry.id, over: .tcp, deadline: entry.deadline)
                    return
                }
                self.stats.answers += 1
                self.finish(token: token, entry, .success(ByteBuffer(bytes: answer)))
                return
            }
        }
    }

    private func write(token: UInt64, _ entry: Pending, remaining: ByteBuffer) {
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &socketError, &length) == 0, socketError == 0 else {
            self.failPending(token: token, entry, reason: "connect", errno: socketError == 0 ? errno : socketError)
            return
        }
        var remaining = remaining
        let written = remaining.withUnsafeReadableBytes {
            Glibc.send(entry.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
        }
        if written < 0 {
            let error = errno
            if error != EAGAIN && error != EWOULDBLOCK && error != EINTR {
                self.failPending(token: token, entry, reason: "send", errno: error)
            }
            return
        }
        remaining.moveReaderIndex(forwardBy: written)
        var entry = entry
        guard remaining.readableBytes == 0 else {
            entry.phase = .writing(remaining)
            self.pending[token] = entry
            return
        }
        _ = fz_epoll_remove(self.descriptor, entry.fd)
        let watched = fz_epoll_add(self.descriptor, entry.fd, token)
        guard watched == 0 else {
            self.failPending(token: token, entry, reason: "epoll_ctl", errno: -watched)
            return
        }
        entry.phase = .reading(DNSTCPFramer())
        self.pending[token] = entry
    }

    private func read(token: UInt64, _ entry: Pending, framer: DNSTCPFramer) {
        var framer = framer
        let received = Glibc.recv(entry.fd, self.receiveBuffer.baseAddress, self.receiveBuffer.count, 0)
        if received < 0 {
            let error = errno
            if error != EAGAIN && error != EWOULDBLOCK && error != EINTR {
                self.failPending(token: token, entry, reason: "recv", errno: error)
            }
            return
        }
        guard received > 0 else {
            self.failPending(token: token, entry, reason: "connection closed before the answer")
            return
        }
        framer.append(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: self.receiveBuffer[0..<received])))
        while true {
            let message: ByteBuffer?
            do {
                message = try framer.nextMessage()
            } catch {
                self.failPending(token: token, entry, reason: "empty message on the stream")
                return
            }
            guard let message else {
                var entry = entry
                entry.phase = .reading(framer)
                self.pending[token] = entry
                return
            }
            let verdict = message.withUnsafeReadableBytes { self.classify($0, id: entry.id) }
            switch verdict {
            case .notTheAnswer:
                self.stats.ignoredMessages += 1
            case .malformed:
                self.failPending(token: token, entry, reason: "answer shorter than a DNS header")
                return
            case .answer:
                self.stats.answers += 1
                self.finish(token: token, entry, .success(message))
                return
            }
        }
    }

    // MARK: Outcomes

    private enum Verdict {
        case answer(truncated: Bool)
        case notTheAnswer
        case malformed
    }

    /// RFC 1035 §4.1.1: the ID echoes the query's, QR marks a response, TC a truncated one.
    private func classify(_ message: UnsafeRawBufferPointer, id: UInt16) -> Verdict {
        guard message.count >= DNSConstants.headerLength else {
            return .malformed
        }
        let messageID = UInt16(message[0]) << 8 | UInt16(message[1])
        let isResponse = message[2] & 0x80 != 0
        guard messageID == id, isResponse else {
            return .notTheAnswer
        }
        return .answer(truncated: message[2] & 0x02 != 0)
    }

    private func finish(token: UInt64, _ entry: Pending, _ result: Result<ByteBuffer, DNSUpstreamFailure>) {
        _ = Glibc.close(entry.fd)
        self.pending.removeValue(forKey: token)
        self.outcomes.append(Outcome(query: entry.query, result: result))
    }

    private func failPending(token: UInt64, _ entry: Pending, reason: String, errno: Int32? = nil) {
        self.log(reason, errno: errno, server: entry.query.server)
        self.stats.failures += 1
        self.finish(token: token, entry, .failure(.failed))
    }

    private func fail(_ query: RecursiveDNSQuery, reason: String, errno: Int32? = nil) {
        self.log(reason, errno: errno, server: query.server)
        self.stats.failures += 1
        self.outcomes.append(Outcome(query: query, result: .failure(.failed)))
    }

    private func log(_ reason: String, errno: Int32?, server: IPSocketAddress) {
        var metadata: Logger.Metadata = ["dns.reason": "\(reason)", "dns.server": "\(server)"]
        if let errno {
            metadata["error"] = "\(SystemCallError(operation: reason, errno: errno))"
        }
        self.logger.debug("Upstream DNS query failed", metadata: metadata)
    }
}
