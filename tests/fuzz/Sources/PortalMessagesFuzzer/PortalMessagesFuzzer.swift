import PortalMessages

// The `portal-messages` fuzz target: the portal message decoder, as both ends of every topic use it.
//
// Input: any bytes, read as UTF-8 text (invalid sequences replaced), decoded as a Phoenix message of each topic
// and direction. A failure must be a `PortalDecodingError` (typed throws makes anything else impossible), never
// a trap. A message that decodes must survive a round trip: its encoding decodes to an equal message, and
// encoding that again gives the same bytes. Any violation is a `fatalError`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    let text = String(decoding: input, as: UTF8.self)
    roundTrip(text, as: PhoenixMessage<ClientInbound, EmptyPayload>.self)
    roundTrip(text, as: PhoenixMessage<GatewayInbound, EmptyPayload>.self)
    roundTrip(text, as: PhoenixMessage<RelayInbound, EmptyPayload>.self)
    roundTrip(text, as: PhoenixMessage<ClientOutbound, EmptyPayload>.self)
    roundTrip(text, as: PhoenixMessage<GatewayOutbound, EmptyPayload>.self)
    roundTrip(text, as: PhoenixMessage<RelayOutbound, RelayJoin>.self)
    if let event = try? PortalCodec.decodeEvent(text, as: ClientOutbound.self) {
        let message = PhoenixMessage<ClientOutbound, EmptyPayload>(topic: "client", body: .event(event), ref: nil)
        check(message, PortalCodec.encode(message))
    }
    return 0
}

func roundTrip<Events, Join>(_ text: String, as type: PhoenixMessage<Events, Join>.Type) {
    let message: PhoenixMessage<Events, Join>
    do {
        message = try PortalCodec.decode(text, as: type)
    } catch {
        // A typed error with an event name only when the payload, not the envelope, was at fault.
        if error.kind == .invalidEnvelope, !error.event.isEmpty {
            fatalError("an envelope error names an event: \(error)")
        }
        return
    }
    check(message, PortalCodec.encode(message))
}

func check<Events, Join>(_ message: PhoenixMessage<Events, Join>, _ encoded: String) {
    let again: PhoenixMessage<Events, Join>
    do {
        again = try PortalCodec.decode(encoded, as: PhoenixMessage<Events, Join>.self)
    } catch {
        fatalError("our own encoding does not decode: \(error)\n\(encoded)")
    }
    guard again == message else {
        fatalError("the round trip changed the message:\n\(message)\n\(again)\n\(encoded)")
    }
    guard PortalCodec.encode(again) == encoded else {
        fatalError("encoding is not deterministic:\n\(encoded)\n\(PortalCodec.encode(again))")
    }
}
