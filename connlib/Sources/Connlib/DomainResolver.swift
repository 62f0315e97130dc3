import ConnlibCore
import FirezoneTime
import Glibc
import IPPacket
import LinuxIO
import Logging
import NIOCore

/// Resolves the domains of the gateway's DNS resources (``GatewayEvent/resolveDNS(_:)``) without ever blocking the
/// data-plane thread: A and AAAA queries over UDP to the nameservers of `/etc/resolv.conf`, answers read when
/// their socket is readable, a lookup given up after ``timeout`` (Firezone's gateway gives its resolutions 10 s,
/// rust/gateway/src/eventloop.rs). Each lookup has a socket of its own, so every query leaves from a new source
/// port (Firezone's rust/connlib/socket-factory; a fixed port makes off-path spoofing of answers easier, RFC 5452 §9.2), marked like the
/// tunnel's sockets.
///
/// A lookup ends when both queries are answered or the time is up: with the addresses of every answer (empty for
/// NXDOMAIN or no records), or nil when no nameserver answered either query usefully (a timeout, SERVFAIL,
/// REFUSED). A truncated answer counts with the records it carries; the gateway does not retry over TCP.
public final class DomainResolver {
    public static let timeout = Duration.seconds(10)
    /// Lookups at once; past it a request fails at once rather than opening sockets without bound.
    public static let maximumLookups = 256
    /// glibc reads at most three nameservers (MAXNS, resolv.conf(5)).
    public static let maximumNameservers = 3
    /// The largest answer read: EDNS-less answers are at most 512 bytes (RFC 1035 §4.2.1); room for more.
    static let receiveCapacity = 4096

    /// A finished lookup, to hand to ``GatewayState/handleDomainResolved(_:addresses:now:)``.
    public struct Completion: Sendable, Hashable {
        public var request: DNSResolutionRequest
        public var addresses: [IPAddress]?

        public init(request: DNSResolutionRequest, addresses: [IPAddress]?) {
            self.request = request
            self.addresses = addresses
        }
    }

    private struct Lookup {
        var request: DNSResolutionRequest
        var fd: Int32
        var token: UInt64
        var registration: EventLoopDriver.Registration
        var deadline: Instant
        /// Query ids for A and AAAA; nil once that query is answered.
        var pendingA: UInt16?
        var pendingAAAA: UInt16?
        var addresses: [IPAddress] = []
        var answered = false
    }

    public let nameservers: [IPSocketAddress]
    private let driver: EventLoopDriver
    private let tokenBase: UInt64
    private let logger: Logger
    private var lookups: [Lookup] = []
    /// Lookups that could not start (too many in flight, or no nameserver), for tests and metrics.
    public private(set) var refusedLookups = 0
    /// Refusals are warned about at most once per this interval, with how many there were: a client that asks
    /// faster than the nameservers answer must not turn every request into a log line.
    public static let refusalWarningInterval = Duration.seconds(10)
    private var lastRefusalWarning: Instant?
    private var refusedSinceWarning = 0
    private var nextToken: UInt64 = 0
    private var generator = SystemRandomNumberGenerator()
    private let scratch: UnsafeMutableRawBufferPointer

    /// Readable descriptors are registered with `driver` under tokens from `tokenBase` up; the loop sends those
    /// tokens to ``handleReadable(token:now:)`` (``owns(token:)`` tells them apart). Nameservers listen on port 53
    /// (``nameservers(resolvConf:)``); the first three are asked.
    public init(nameservers: [IPSocketAddress], driver: EventLoopDriver, tokenBase: UInt64, logger: Logger) {
        self.nameservers = Array(nameservers.prefix(Self.maximumNameservers))
        self.driver = driver
        self.tokenBase = tokenBase
        self.logger = logger
        self.scratch = .allocate(byteCount: Self.receiveCapacity, alignment: 8)
    }

    deinit {
        for lookup in self.lookups {
            self.driver.unregister(lookup.registration)
            _ = Glibc.close(lookup.fd)
        }
        self.scratch.deallocate()
    }

    /// Lookups waiting for answers.
    public var pendingCount: Int {
        self.lookups.count
    }

    public func owns(token: UInt64) -> Bool {
        token >= self.tokenBase
    }

    /// The earliest deadline of a lookup.
    public func nextDeadline() -> Instant? {
        self.lookups.lazy.map(\.deadline).min()
    }

    // MARK: resolv.conf

    /// The `nameserver` lines of a resolv.conf(5), in order (an IPv6 zone suffix dropped), on port 53; glibc's
    /// default, 127.0.0.1, when there is none.
    public static func nameservers(resolvConf text: String) -> [IPSocketAddress] {
        var servers: [IPAddress] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else {
                continue
            }
            let text = fields[1].split(separator: "%", maxSplits: 1)[0]
            if let address = IPv4Address(text) {
                servers.append(.v4(address))
            } else if let address = IPv6Address(text) {
                servers.append(.v6(address))
            }
        }
        let addresses = servers.isEmpty ? [.v4(IPv4Address(127, 0, 0, 1))] : servers
        return addresses.map { IPSocketAddress($0, port: 53) }
    }

    /// The nameservers of the file at `path` (glibc's default when it cannot be read).
    public static func systemNameservers(path: String = "/etc/resolv.conf") -> [IPSocketAddress] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return self.nameservers(resolvConf: "")
        }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else {
                break
            }
            bytes += chunk[..<count]
        }
        return self.nameservers(resolvConf: String(decoding: bytes, as: UTF8.self))
    }

    // MARK: Lookups

    /// Counts a lookup that cannot start and fails it at once.
    private func refuse(_ request: DNSResolutionRequest, reason: String, now: Instant) -> Completion {
        self.refusedLookups += 1
        self.refusedSinceWarning += 1
        if let last = self.lastRefusalWarning, now - last < Self.refusalWarningInterval {
            return Completion(request: request, addresses: nil)
        }
        self.logger.warning(
            "Cannot resolve now: \(reason)",
            metadata: ["domain": "\(request.domain)", "refused": "\(self.refusedSinceWarning)"]
        )
        self.lastRefusalWarning = now
        self.refusedSinceWarning = 0
        return Completion(request: request, addresses: nil)
    }

    /// Sends the queries for `request`. Returns a completion at once (nil addresses) when the lookup cannot start:
    /// too many lookups, no socket, no nameserver of a family this host can reach.
    public func start(_ request: DNSResolutionRequest, now: Instant) -> Completion? {
        guard let first = self.nameservers.first else {
            return self.refuse(request, reason: "no nameserver", now: now)
        }
        guard self.lookups.count < Self.maximumLookups else {
            return self.refuse(request, reason: "too many lookups", now: now)
        }
        let family = first.address.version
        let any: IPAddress = family == .v4 ? .v4(IPv4Address(rawValue: 0)) : .v6(IPv6Address(high: 0, low: 0))
        let fd = bindUDP(any, port: 0, receiveBuffer: 0, sendBuffer: 0)
        guard fd >= 0 else {
            self.logger.warning("Cannot open a DNS socket", metadata: ["errno": "\(-fd)"])
            return Completion(request: request, addresses: nil)
        }
        var mark = TunnelRouting.firewallMark
        _ = setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, socklen_t(MemoryLayout<UInt32>.size))
        let token = self.tokenBase + self.nextToken
        self.nextToken &+= 1
        let registration: EventLoopDriver.Registration
        do {
            registration = try self.driver.register(readable: fd, token: token)
        } catch {
            _ = Glibc.close(fd)
            self.logger.warning("Cannot watch a DNS socket", metadata: ["error": "\(error)"])
            return Completion(request: request, addresses: nil)
        }
        let idA = UInt16.random(in: .min ... .max, using: &self.generator)
        var idAAAA = UInt16.random(in: .min ... .max, using: &self.generator)
        if idAAAA == idA {
            idAAAA &+= 1
        }
        let queries = [
            DNSMessage.makeQuery(id: idA, question: DNSQuestion(name: request.domain, type: .a)),
            DNSMessage.makeQuery(id: idAAAA, question: DNSQuestion(name: request.domain, type: .aaaa)),
        ]
        for server in self.nameservers where server.address.version == family {
            for query in queries {
                Self.send(query, to: server, on: fd)
            }
        }
        self.lookups.append(
            Lookup(
                request: request,
                fd: fd,
                token: token,
                registration: registration,
                deadline: now + Self.timeout,
                pendingA: idA,
                pendingAAAA: idAAAA
            )
        )
        return nil
    }

    private static func send(_ query: ByteBuffer, to server: IPSocketAddress, on fd: Int32) {
        var datagram = fz_datagram()
        datagram.setDestination(server)
        var failed: UInt32 = 0
        query.withUnsafeReadableBytes { raw in
            datagram.bytes = UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            datagram.length = UInt32(raw.count)
            _ = fz_udp_send_batch(fd, &datagram, 1, &failed)
        }
    }

    /// Reads the answers waiting on a lookup's socket. Returns the completion when the lookup is done.
    public func handleReadable(token: UInt64, now: Instant) -> Completion? {
        guard let index = self.lookups.firstIndex(where: { $0.token == token }) else {
            return nil
        }
        while true {
            var datagram = fz_datagram()
            datagram.bytes = self.scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
            datagram.capacity = UInt32(self.scratch.count)
            guard fz_udp_receive_batch(self.lookups[index].fd, &datagram, 1) == 1 else {
                break
            }
            self.accept(datagram, into: &self.lookups[index])
        }
        guard self.lookups[index].pendingA == nil, self.lookups[index].pendingAAAA == nil else {
            return nil
        }
        return self.finish(at: index)
    }

    /// Ends every lookup whose time is up, with the answers it has.
    public func expire(now: Instant) -> [Completion] {
        var completions: [Completion] = []
        var index = 0
        while index < self.lookups.count {
            if self.lookups[index].deadline <= now {
                self.logger.debug("DNS lookup timed out", metadata: ["domain": "\(self.lookups[index].request.domain)"])
                completions.append(self.finish(at: index))
            } else {
                index += 1
            }
        }
        return completions
    }

    /// Counts an answer from one of our nameservers to one of the lookup's queries.
    private func accept(_ datagram: fz_datagram, into lookup: inout Lookup) {
        guard datagram.truncated == 0, self.nameservers.contains(datagram.socketAddress) else {
            return
        }
        let bytes = ByteBuffer(bytes: UnsafeRawBufferPointer(start: datagram.bytes, count: Int(datagram.length)))
        guard let message = try? DNSMessage(parsingResponse: bytes),
            message.question?.name == lookup.request.domain
        else {
            return
        }
        let type: DNSRecordType
        if message.id == lookup.pendingA, message.question?.type == .a {
            lookup.pendingA = nil
            type = .a
        } else if message.id == lookup.pendingAAAA, message.question?.type == .aaaa {
            lookup.pendingAAAA = nil
            type = .aaaa
        } else {
            return
        }
        switch message.responseCode {
        case .noError, .nameError:
            lookup.answered = true
            for record in message.answers where record.type == type {
                if let address = record.address, !lookup.addresses.contains(address) {
                    lookup.addresses.append(address)
                }
            }
        default:
            break
        }
    }

    private func finish(at index: Int) -> Completion {
        let lookup = self.lookups.remove(at: index)
        self.driver.unregister(lookup.registration)
        _ = Glibc.close(lookup.fd)
        return Completion(request: lookup.request, addresses: lookup.answered ? lookup.addresses : nil)
    }
}
