import ConnlibCore
import FirezoneTime
import IPPacket

/// ``ClientOnGateway/OutboundVerdict`` with the translated packet, as these tests compare it (the state's own calls
/// keep the packet where it is and translate it in place).
enum TranslatedOutbound {
    case forward(IPPacket)
    case reply(IPPacket, dropped: GatewayDropReason)
    case drop(GatewayDropReason)
}

/// ``ClientOnGateway/InboundVerdict`` with the translated packet.
enum TranslatedInbound {
    case forward(IPPacket)
    case drop(GatewayDropReason)
}

extension ClientOnGateway {
    mutating func translateOutbound(_ packet: IPPacket, now: Instant) -> TranslatedOutbound {
        var packet = packet
        switch self.translateOutbound(&packet, now: now) {
        case .forward: return .forward(packet)
        case .reply(let error, let reason): return .reply(error, dropped: reason)
        case .drop(let reason): return .drop(reason)
        }
    }

    mutating func translateInbound(_ packet: IPPacket, now: Instant) -> TranslatedInbound {
        var packet = packet
        switch self.translateInbound(&packet, now: now) {
        case .forward: return .forward(packet)
        case .drop(let reason): return .drop(reason)
        }
    }
}
