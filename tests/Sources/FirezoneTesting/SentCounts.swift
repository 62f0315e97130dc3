import IPPacket
import NIOCore

/// Datagrams a snownet node sent towards its peer, by what they carry, read from the bytes alone: ICE checks
/// (STUN with the magic cookie, RFC 8489 §5), WireGuard handshake initiations, keep-alives (a transport message with
/// an empty payload: 32 bytes, WireGuard paper §5.4.6) and data. What goes to a relay's port 3478 counts only as
/// channel data, unwrapped: the rest is the node's own TURN traffic.
public struct SentCounts: Hashable, Sendable, CustomStringConvertible {
    public var iceRequests = 0
    public var iceResponses = 0
    public var wireGuardKeepalives = 0
    public var wireGuardHandshakeInitiations = 0
    public var wireGuardData = 0

    public init(
        iceRequests: Int = 0,
        iceResponses: Int = 0,
        wireGuardKeepalives: Int = 0,
        wireGuardHandshakeInitiations: Int = 0,
        wireGuardData: Int = 0
    ) {
        self.iceRequests = iceRequests
        self.iceResponses = iceResponses
        self.wireGuardKeepalives = wireGuardKeepalives
        self.wireGuardHandshakeInitiations = wireGuardHandshakeInitiations
        self.wireGuardData = wireGuardData
    }

    public static func isSTUN(_ payload: ByteBuffer) -> Bool {
        payload.getInteger(at: payload.readerIndex + 4, as: UInt32.self) == 0x2112_A442
    }

    /// A BINDING request: an ICE connectivity check.
    public static func isICERequest(_ payload: ByteBuffer) -> Bool {
        Self.isSTUN(payload) && payload.getInteger(at: payload.readerIndex, as: UInt16.self) == 0x0001
    }

    public static func isKeepalive(_ payload: ByteBuffer) -> Bool {
        !Self.isSTUN(payload) && payload.getInteger(at: payload.readerIndex, as: UInt8.self) == 4
            && payload.readableBytes == 32
    }

    /// Counts one datagram sent to `destination`.
    public mutating func count(_ payload: ByteBuffer, to destination: IPSocketAddress) {
        var payload = payload
        if destination.port == 3478 {
            guard let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self), (0x40...0x4F).contains(first)
            else {
                return
            }
            payload.moveReaderIndex(forwardBy: 4)
        }
        guard let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else {
            return
        }
        switch (first, Self.isSTUN(payload)) {
        case (0, true) where Self.isICERequest(payload): self.iceRequests += 1
        case (_, true): self.iceResponses += 1
        case (1, false): self.wireGuardHandshakeInitiations += 1
        case (4, false) where payload.readableBytes == 32: self.wireGuardKeepalives += 1
        case (4, false): self.wireGuardData += 1
        default: break
        }
    }

    public var description: String {
        "ICE requests \(self.iceRequests), ICE responses \(self.iceResponses), WireGuard keep-alives "
            + "\(self.wireGuardKeepalives), handshake initiations \(self.wireGuardHandshakeInitiations), "
            + "data \(self.wireGuardData)"
    }

    public static func - (lhs: SentCounts, rhs: SentCounts) -> SentCounts {
        SentCounts(
            iceRequests: lhs.iceRequests - rhs.iceRequests,
            iceResponses: lhs.iceResponses - rhs.iceResponses,
            wireGuardKeepalives: lhs.wireGuardKeepalives - rhs.wireGuardKeepalives,
            wireGuardHandshakeInitiations: lhs.wireGuardHandshakeInitiations - rhs.wireGuardHandshakeInitiations,
            wireGuardData: lhs.wireGuardData - rhs.wireGuardData
        )
    }
}
