import FirezoneTime
import IPPacket
import NIOCore
import STUN

/// One outstanding request of an allocation.
struct TURNRequest {
    enum Kind: Equatable {
        case binding
        case allocate
        /// `lifetime` 0 deletes the allocation (RFC 8656 §7.3); nil asks for the server's default.
        case refresh(lifetime: UInt32?)
        case channelBind(ChannelNumber, peer: IPSocketAddress)

        var method: STUNMethod {
            switch self {
            case .binding: .binding
            case .allocate: .allocate
            case .refresh: .refresh
            case .channelBind: .channelBind
            }
        }
    }

    var kind: Kind
    var transactionID: TransactionID
    var destination: IPSocketAddress
    /// The bytes sent: a BINDING retransmission repeats them; authenticated requests are rebuilt.
    var message: ByteBuffer
    /// The NONCE it carried: with one, a 401 means the credentials are wrong, and a challenge that names this same
    /// nonce again cannot be answered.
    var nonce: String?
    /// The last transmission of this transaction id, the start of its RTT sample.
    var sentAt: Instant
    /// Whether this transaction id was sent more than once: its RTT is ambiguous (Karn and Partridge, 1987).
    var retransmitted: Bool
    var backoff: RequestBackoff
}
