import FirezoneCrypto
import IPPacket
import PortalMessages
import Testing

struct PortalCodecTests {
    @Test
    func outboundEventsEncodeToThePhoenixV1Envelope() {
        let message = PhoenixMessage<ClientOutbound, EmptyPayload>(
            topic: "client",
            body: .event(
                .createFlow(
                    CreateFlow(
                        resourceID: ResourceID("f16ecfa0-a94f-4bfd-a2ef-1cc1f2ef3da3"),
                        connectedGatewayIDs: [GatewayID("b3d34a15-55ab-40df-994b-a838e75d65d7")]
                    )
                )
            ),
            ref: .number(3)
        )
        #expect(
            PortalCodec.encode(message)
                == #"{"event":"create_flow","payload":{"connected_gateway_ids":["b3d34a15-55ab-40df-994b-a838e75d65d7"],"resource_id":"f16ecfa0-a94f-4bfd-a2ef-1cc1f2ef3da3"},"ref":3,"topic":"client"}"#
        )
    }

    @Test
    func joinsAndHeartbeatsEncodeAsPhoenixV1() {
        let relayJoin = PhoenixMessage<RelayOutbound, RelayJoin>(
            topic: "relay",
            body: .join(RelayJoin(stampSecret: "00ff")),
            ref: .number(0)
        )
        #expect(
            PortalCodec.encode(relayJoin)
                == #"{"event":"phx_join","payload":{"stamp_secret":"00ff"},"ref":0,"topic":"relay"}"#
        )
        let clientJoin = PhoenixMessage<ClientOutbound, EmptyPayload>(
            topic: "client",
            body: .join(EmptyPayload()),
            ref: .number(0)
        )
        #expect(PortalCodec.encode(clientJoin) == #"{"event":"phx_join","payload":null,"ref":0,"topic":"client"}"#)
        let heartbeat = PhoenixMessage<ClientOutbound, EmptyPayload>(
            topic: "phoenix",
            body: .heartbeat,
            ref: .number(7)
        )
        #expect(PortalCodec.encode(heartbeat) == #"{"event":"heartbeat","payload":{},"ref":7,"topic":"phoenix"}"#)
    }

    @Test
    func relayInitIsAnEmptyObject() throws {
        let message = PhoenixMessage<RelayInbound, EmptyPayload>(topic: "relay", body: .event(.initialize), ref: nil)
        let text = PortalCodec.encode(message)
        #expect(text == #"{"event":"init","payload":{},"ref":null,"topic":"relay"}"#)
        #expect(try PortalCodec.decode(text, as: PhoenixMessage<RelayInbound, EmptyPayload>.self) == message)
    }

    @Test
    func unknownFieldsAreIgnoredEverywhere() throws {
        let text = #"""
            {"topic":"client","event":"resource_deleted","payload":"f16ecfa0","ref":null,"join_ref":"4","extra":{"a":1}}
            """#
        let message = try PortalCodec.decode(text, as: ClientMessage.self)
        #expect(message.body == .event(.resourceDeleted(ResourceID("f16ecfa0"))))
    }

    @Test(arguments: [
        ("not json", PortalDecodingError.Kind.invalidEnvelope, ""),
        ("[1,2]", .invalidEnvelope, ""),
        (#"{"event":"init","payload":{}}"#, .invalidEnvelope, ""),
        (#"{"topic":"client","payload":{}}"#, .invalidEnvelope, ""),
        (#"{"topic":"client","event":"init","payload":{}}"#, .malformedPayload, "init"),
        (#"{"topic":"client","event":"flow_created","payload":null}"#, .malformedPayload, "flow_created"),
        (#"{"topic":"client","event":"resource_deleted","payload":7}"#, .malformedPayload, "resource_deleted"),
        (#"{"topic":"client","event":"phx_reply","payload":{"status":"maybe"}}"#, .malformedPayload, "phx_reply"),
        (#"{"topic":"client","event":"disconnect","payload":{}}"#, .malformedPayload, "disconnect"),
        (#"{"topic":"client","event":"init","ref":{"x":1},"payload":{}}"#, .invalidEnvelope, ""),
    ])
    func malformedInputIsATypedError(text: String, kind: PortalDecodingError.Kind, event: String) {
        #expect {
            try PortalCodec.decode(text, as: ClientMessage.self)
        } throws: { error in
            guard let error = error as? PortalDecodingError else { return false }
            return error.kind == kind && error.event == event
        }
    }

    @Test
    func badAddressesKeysAndNetworksAreMalformedPayloads() throws {
        let flow = try Fixtures.text("client-flow_created.json")
        for (good, bad) in [
            ("100.72.145.83", "100.72.145.300"),
            ("fd00:2021:1111::5:bcfd", "fd00::zz"),
            ("uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY=", "c2hvcnQ="),
        ] {
            #expect(throws: PortalDecodingError.self) {
                try PortalCodec.decode(flow.replacingOccurrences(of: good, with: bad), as: ClientMessage.self)
            }
        }
        let resource =
            #"{"topic":"gateway","event":"resource_updated","payload":{"id":"r","type":"cidr","name":"n","address":"10.0.0.1/8"}}"#
        #expect(throws: PortalDecodingError.self) {
            try PortalCodec.decode(resource, as: GatewayMessage.self)
        }
    }

    @Test
    func errorsNeverCarryTheOffendingValue() throws {
        let secret = "anX2T9RH9mimT5Xd5+HqNGV0bfCodWDHQch1DLiFNl=="
        let flow = try Fixtures.text("client-flow_created.json")
            .replacingOccurrences(of: "anX2T9RH9mimT5Xd5+HqNGV0bfCodWDHQch1DLiFNls=", with: secret)
        do {
            _ = try PortalCodec.decode(flow, as: ClientMessage.self)
            Issue.record("a bad preshared key decoded")
        } catch {
            #expect(error.kind == .malformedPayload)
            #expect(error.detail.contains("preshared_key"))
            #expect(!error.description.contains(secret))
        }
    }

    @Test
    func secretsAreRedactedInDescriptions() throws {
        let key = try #require(PresharedKey(base64: "BzPiNE9qszKczZcZzGsyieLYeJ2EQfkfdibls/l3beM="))
        #expect(!"\(key)".contains("BzPi"))
        #expect(!"\(RelayJoin(stampSecret: "deadbeef"))".contains("deadbeef"))
        #expect(!"\(IceCredentials(username: "abcd", password: "p4ssw0rd"))".contains("p4ssw0rd"))
    }

    @Test
    func refsCompareByNumberWhetherSpelledAsNumberOrString() throws {
        #expect(PhoenixRef.text("12").number == 12)
        #expect(PhoenixRef.number(12).number == 12)
        #expect(PhoenixRef.text("abc").number == nil)
    }

    @Test
    func unknownRelayTypesAndResourceTypesAreSkippedNotFatal() throws {
        let text = #"""
            {"topic":"gateway","event":"relays_presence","ref":null,"payload":{"disconnected_ids":[],"connected":[
            {"id":"a","type":"quic","addr":"1.2.3.4:1"},
            {"id":"b","type":"turn","addr":"1.2.3.4:3478","username":"1:s","password":"p","expires_at":1}]}}
            """#
        let message = try PortalCodec.decode(text, as: GatewayMessage.self)
        guard case .event(.relaysPresence(let presence)) = message.body else {
            Issue.record("not relays_presence")
            return
        }
        #expect(presence.connected.elements.map(\.id) == [RelayID("b")])
        #expect(presence.connected.skipped == 1)
    }
}

/// Networks travel as CIDR text; parsing and lookup are ``IPNetwork``'s own (IPPacketTests).
struct IPNetworkCodingTests {
    @Test
    func networksTravelAsTheirText() throws {
        let networks = try PortalCodec.decodeJSON([IPNetwork].self, from: #"["172.20.0.0/16","fd00:2021:1111::/107"]"#)
        #expect(networks == [IPNetwork("172.20.0.0/16")!, IPNetwork("fd00:2021:1111::/107")!])
        #expect(PortalCodec.encodeJSON(networks) == #"["172.20.0.0/16","fd00:2021:1111::/107"]"#)
    }

    /// connlib's `ip_network` rejects host bits; the portal sends a CIDR resource's network without them.
    @Test(arguments: [#"["172.20.0.1/16"]"#, #"["10.0.0.0/33"]"#, #"["10.0.0.0"]"#, #"["fd00::1/64"]"#])
    func aNetworkWithHostBitsOrBadTextIsMalformed(_ json: String) {
        #expect(throws: PortalDecodingError.self) { try PortalCodec.decodeJSON([IPNetwork].self, from: json) }
    }
}

@Suite struct ClientResourceFilterTests {
    @Test
    func clientResourcesCarryTheirFiltersAndDefaultToNone() throws {
        let withFilters = #"""
            [{"type":"cidr","id":"73037362-715d-4a83-a749-f18eadd970e6","address":"172.172.0.0/16","name":"n",
              "gateway_groups":[],"filters":[{"protocol":"tcp","port_range_start":80,"port_range_end":443},
              {"protocol":"icmp"}]},
             {"type":"dns","id":"03000143-e25e-45c7-aafb-144990e57dcd","address":"**.corp","name":"n",
              "gateway_groups":[],"filters":[{"protocol":"udp"}]},
             {"type":"dns","id":"03000143-e25e-45c7-aafb-144990e57dce","address":"x.corp","name":"n",
              "gateway_groups":[]}]
            """#
        let resources = try PortalCodec.decodeJSON([ClientResource].self, from: withFilters)
        guard case .cidr(let cidr) = resources[0], case .dns(let dns) = resources[1],
            case .dns(let unfiltered) = resources[2]
        else {
            Issue.record("unexpected resource kinds: \(resources)")
            return
        }
        #expect(cidr.filters == [.tcp(ports: 80...443), .icmp])
        #expect(dns.filters == [.udp(ports: nil)])
        #expect(unfiltered.filters.isEmpty)
    }
}
