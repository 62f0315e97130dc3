import Foundation
import IPPacket
import NIOCore
import STUN
import Testing

/// A TURN client over one blocking UDP socket on 127.0.0.1, enough to drive a relay process through ALLOCATE and
/// CHANNEL-BIND from a test.
final class TURNTestClient {
    struct NoResponse: Error {}

    let descriptor: Int32
    let relayPort: UInt16
    var rng = SystemRandomNumberGenerator()

    init(relayPort: Int) throws {
        self.relayPort = UInt16(relayPort)
        self.descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(self.descriptor >= 0)
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(self.descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(self.descriptor)
    }

    /// Sends a request, resending each second until a response with its transaction ID comes (the relay may still
    /// be starting), for up to ten seconds.
    func request(_ method: STUNMethod, attributes: [STUNAttribute], key: [UInt8]? = nil) throws -> STUNMessage {
        var buffer = ByteBuffer()
        let transactionID = TransactionID(using: &self.rng)
        STUNMessageEncoder.encode(
            type: STUNMessageType(method: method, class: .request),
            transactionID: transactionID,
            attributes: attributes,
            messageIntegrityKey: key,
            fingerprint: false,
            into: &buffer
        )
        let datagram = Array(buffer.readableBytesView)
        var relay = sockaddr_in()
        relay.sin_family = sa_family_t(AF_INET)
        relay.sin_port = self.relayPort.bigEndian
        relay.sin_addr.s_addr = inet_addr("127.0.0.1")
        var received = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<10 {
            let sent = withUnsafePointer(to: &relay) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(self.descriptor, datagram, datagram.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try #require(sent == datagram.count)
            while true {
                let count = recv(self.descriptor, &received, received.count, 0)
                guard count > 0 else {
                    break
                }
                let message = try STUNMessage(decoding: ByteBuffer(bytes: received[..<count]))
                if message.transactionID == transactionID {
                    return message
                }
            }
        }
        throw NoResponse()
    }

    /// An authenticated request after fetching the nonce from the 401, as clients do.
    func authenticated(
        _ method: STUNMethod,
        attributes: [STUNAttribute],
        credentials: (username: String, password: String)
    ) throws -> STUNMessage {
        let challenge = try self.request(method, attributes: attributes)
        #expect(challenge.errorCode?.code == 401)
        let nonce = try #require(challenge.nonce)
        let key = LongTermCredentials.key(
            username: credentials.username,
            realm: "firezone",
            password: credentials.password
        )
        return try self.request(
            method,
            attributes: attributes + [.username(credentials.username), .realm("firezone"), .nonce(nonce)],
            key: key
        )
    }

    /// ALLOCATE for UDP; the response.
    func allocate(_ credentials: (username: String, password: String)) throws -> STUNMessage {
        try self.authenticated(.allocate, attributes: [.requestedTransport(17)], credentials: credentials)
    }

    /// CHANNEL-BIND of `channel` to `peer`; the response's error code, nil on success.
    func bind(_ channel: UInt16, to peer: String, _ credentials: (username: String, password: String)) throws -> Int? {
        let address = try #require(IPSocketAddress(peer))
        let response = try self.authenticated(
            .channelBind,
            attributes: [.channelNumber(channel), .xorPeerAddress(address)],
            credentials: credentials
        )
        return response.errorCode.map { Int($0.code) }
    }
}
