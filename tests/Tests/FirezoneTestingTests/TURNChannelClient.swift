import FirezoneTesting
import FirezoneTime
import IPPacket
import NIOCore
import STUN

/// The smallest TURN client that gets a peer's datagrams through our relay: one allocation and one channel
/// (RFC 8656's Allocate and ChannelBind), long-term credentials fetched with a first unauthenticated request
/// (RFC 8489 §9.2), and retransmission of the one outstanding request on an RTO that starts at 500 ms and doubles
/// (RFC 8489 §6.2.1).
struct TURNChannelClient {
    private struct Request {
        var method: STUNMethod
        var attributes: [STUNAttribute]
        var transactionID: TransactionID
        var bytes: ByteBuffer
        var retransmitAt: Instant
        var timeout: Duration
    }

    static let initialRTO: Duration = .milliseconds(500)
    static let maximumRTO: Duration = .seconds(4)

    let server: IPSocketAddress
    private let credentials: (username: String, password: String)
    private var rng: SeededRandomNumberGenerator
    private var nonce: String?
    private var request: Request?
    private var outbox: [ByteBuffer] = []
    private var wantedChannel: (number: UInt16, peer: IPSocketAddress)?
    private(set) var relayedAddress: IPSocketAddress?
    private(set) var channel: (number: UInt16, peer: IPSocketAddress)?
    private(set) var errors: [String] = []

    init(server: IPSocketAddress, credentials: (username: String, password: String), seed: UInt64, now: Instant) {
        self.server = server
        self.credentials = credentials
        self.rng = SeededRandomNumberGenerator(seed: seed)
        self.send(.allocate, attributes: [.requestedTransport(17)], now: now)
    }

    /// Binds `number` to `peer` once the allocation exists.
    mutating func bind(channel number: UInt16, to peer: IPSocketAddress, now: Instant) {
        self.wantedChannel = (number, peer)
        if self.relayedAddress != nil, self.request == nil {
            self.send(.channelBind, attributes: [.channelNumber(number), .xorPeerAddress(peer)], now: now)
        }
    }

    mutating func handle(_ message: STUNMessage, now: Instant) {
        guard let request = self.request, message.transactionID == request.transactionID else {
            return
        }
        self.request = nil
        if let code = message.errorCode?.code {
            if code == 401 || code == 438, let nonce = message.nonce, self.nonce != nonce {
                // A first request, or a nonce that ran out: repeat it with the fresh nonce.
                self.nonce = nonce
                self.send(request.method, attributes: request.attributes, now: now)
            } else if code == 437, request.method == .allocate {
                // Our allocation exists but its success response was lost (the relay does not recognise a
                // retransmission by its transaction ID): delete it with a Refresh of lifetime 0 and allocate again.
                self.send(.refresh, attributes: [.lifetime(0)], now: now)
            } else if request.method == .refresh {
                self.send(.allocate, attributes: [.requestedTransport(17)], now: now)
            } else {
                self.errors.append("\(request.method) failed with \(code)")
            }
            return
        }
        switch request.method {
        case .allocate:
            self.relayedAddress = message.xorRelayedAddresses.first {
                $0.address.version == self.server.address.version
            }
        case .channelBind:
            self.channel = self.wantedChannel
        case .refresh:
            self.send(.allocate, attributes: [.requestedTransport(17)], now: now)
            return
        default:
            break
        }
        if self.channel == nil, let wanted = self.wantedChannel, self.relayedAddress != nil {
            self.send(
                .channelBind,
                attributes: [.channelNumber(wanted.number), .xorPeerAddress(wanted.peer)],
                now: now
            )
        }
    }

    private mutating func send(_ method: STUNMethod, attributes: [STUNAttribute], now: Instant) {
        var all = attributes
        var key: [UInt8]?
        if let nonce = self.nonce {
            all += [.username(self.credentials.username), .realm("firezone"), .nonce(nonce)]
            key = LongTermCredentials.key(
                username: self.credentials.username,
                realm: "firezone",
                password: self.credentials.password
            )
        }
        let transactionID = TransactionID(using: &self.rng)
        var bytes = ByteBuffer()
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: method, class: .request),
            transactionID: transactionID,
            attributes: all,
            messageIntegrityKey: key,
            fingerprint: false,
            into: &bytes
        )
        self.request = Request(
            method: method,
            attributes: attributes,
            transactionID: transactionID,
            bytes: bytes,
            retransmitAt: now + Self.initialRTO,
            timeout: Self.initialRTO
        )
        self.outbox.append(bytes)
    }

    func pollTimeout() -> Instant? {
        self.request?.retransmitAt
    }

    mutating func handleTimeout(now: Instant) {
        guard var request = self.request, request.retransmitAt <= now else {
            return
        }
        request.timeout = min(request.timeout * 2, Self.maximumRTO)
        request.retransmitAt = now + request.timeout
        self.request = request
        self.outbox.append(request.bytes)
    }

    mutating func pollTransmit() -> ByteBuffer? {
        self.outbox.isEmpty ? nil : self.outbox.removeFirst()
    }
}
