import ConnlibCore
import FirezoneTime
import FuzzSupport
import IPPacket
import Logging
import NIOCore
import PortalMessages

// One client on a gateway (`ClientOnGateway`), driven by a sequence of records: authorizations granted, changed,
// expired and removed, DNS resources set up, and packets both ways. After every packet the harness checks, against
// its own model of what the client may use, that nothing reaches a resource the client is not authorized for and
// that nothing leaves with a source other than the client's tunnel address.
//
// A record is an opcode byte followed by its operands; a record cut short by the end of the input ends the run.

private let clientV4 = IPv4Address(100, 64, 0, 9)
private let clientV6 = IPv6Address("fd00:2021:1111::9")!
private let gatewayInterface = GatewayInterface(
    ipv4: IPv4Address(100, 64, 1, 2),
    ipv6: IPv6Address("fd00:2021:1111::1:2")!
)
private let logger = Logger(label: "gateway-policy", factory: { _ in SwiftLogNoOpLogHandler() })
private let domains = ["a.corp.example", "b.corp.example", "x.other.example"]

/// The harness's view of one authorization.
private struct ModelResource {
    enum Kind {
        case cidr(IPNetwork)
        case dns
        case internet
    }

    var kind: Kind
    var filters: [Filter]
    var expiresAt: UInt64?
}

private struct Reader {
    var bytes: UnsafeBufferPointer<UInt8>
    var offset = 0

    mutating func byte() -> UInt8? {
        guard self.offset < self.bytes.count else {
            return nil
        }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func uint16() -> UInt16? {
        guard let high = self.byte(), let low = self.byte() else {
            return nil
        }
        return UInt16(high) << 8 | UInt16(low)
    }
}

/// A palette of addresses around the rules' edges, picked by one byte and varied by another.
private func address(_ selector: UInt8, _ variation: UInt8, v6: Bool) -> IPAddress {
    if v6 {
        let texts = [
            "fd00:2021:1111::9", "fd00:2021:1111::1:2", "fd00:2021:1111::77", "fd00:2021:1111:8000::",
            "2001:db8::", "fc00::", "fe80::", "ff02::", "::1", "::ffff:1.2.3.0", "2606:4700::",
        ]
        let base = IPv6Address(texts[Int(selector) % texts.count])!
        return .v6(IPv6Address(high: base.high, low: base.low | UInt64(variation % 8)))
    }
    let bases: [(UInt8, UInt8, UInt8)] = [
        (100, 64, 0), (100, 64, 1), (100, 96, 0), (10, 0, 0), (10, 1, 0), (172, 16, 0), (192, 168, 0),
        (127, 0, 0), (169, 254, 0), (224, 0, 0), (240, 0, 0), (1, 1, 1), (8, 8, 8), (100, 127, 255),
    ]
    let base = bases[Int(selector) % bases.count]
    return .v4(IPv4Address(base.0, base.1, base.2, variation % 16))
}

private func filters(_ bits: UInt8, _ port: UInt16) -> [Filter] {
    var filters: [Filter] = []
    if bits & 1 != 0 { filters.append(.tcp(ports: port...UInt16(min(Int(port) + Int(bits >> 4), 65535)))) }
    if bits & 2 != 0 { filters.append(.udp(ports: bits & 8 != 0 ? nil : port...port)) }
    if bits & 4 != 0 { filters.append(.icmp) }
    return filters
}

private func isClientAddress(_ address: IPAddress) -> Bool {
    address == .v4(clientV4) || address == .v6(clientV6)
}

private func isGatewayAddress(_ address: IPAddress) -> Bool {
    address == .v4(gatewayInterface.ipv4) || address == .v6(gatewayInterface.ipv6)
}

/// Whether some authorization in the model covers `address` with the resource's side `protocol`: the weakest
/// claim a correct gateway satisfies, whatever its choice among overlapping resources.
private func modelAuthorizes(
    _ resources: [ResourceID: ModelResource],
    _ address: IPAddress,
    _ protocol: TransportProtocol?
) -> Bool {
    for resource in resources.values {
        let engine = FilterEngine(resource.filters)
        let permitted = `protocol`.map(engine.permits) ?? resource.filters.isEmpty
        switch resource.kind {
        case .cidr(let network):
            if network.contains(address), permitted { return true }
        case .internet:
            if InternetAddress.isReachable(address), permitted { return true }
        case .dns:
            continue
        }
    }
    return false
}

private func buildPacket(_ reader: inout Reader) -> IPPacket? {
    guard let kind = reader.byte(), let sourceSelector = reader.byte(), let destinationSelector = reader.byte(),
        let variation = reader.byte(), let port = reader.uint16()
    else {
        return nil
    }
    let v6 = kind & 0x80 != 0
    let source = address(sourceSelector, variation >> 4, v6: v6)
    let destination = address(destinationSelector, variation, v6: v6)
    switch kind & 0x07 {
    case 0:
        return try? IPPacket.makeTCP(
            source: source,
            sourcePort: 40000 &+ UInt16(variation),
            destination: destination,
            destinationPort: port,
            sequenceNumber: 1,
            flags: kind & 0x08 != 0 ? .rst : .syn
        )
    case 1:
        return try? IPPacket.makeUDP(
            source: source,
            sourcePort: 40000 &+ UInt16(variation),
            destination: destination,
            destinationPort: port,
            payload: ByteBuffer()
        )
    case 2:
        return try? IPPacket.makeICMPEchoRequest(
            source: source,
            destination: destination,
            identifier: port,
            sequenceNumber: 1
        )
    case 3:
        return try? IPPacket.makeICMPEchoReply(
            source: source,
            destination: destination,
            identifier: port,
            sequenceNumber: 1
        )
    case 4:
        // An ICMP error from `source` quoting a packet from `destination` back to it.
        guard
            let quoted = try? IPPacket.makeUDP(
                source: destination,
                sourcePort: port,
                destination: source,
                destinationPort: 40000 &+ UInt16(variation),
                payload: ByteBuffer()
            )
        else {
            return nil
        }
        return IPPacket.makeICMPDestinationUnreachable(for: quoted, reason: .networkUnreachable)
    default:
        // Raw bytes: whatever parses.
        guard let length = reader.byte() else {
            return nil
        }
        var buffer = ByteBuffer()
        for _ in 0..<Int(length) {
            guard let byte = reader.byte() else {
                break
            }
            buffer.writeInteger(byte)
        }
        return try? IPPacket(buffer)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else {
        return 0
    }
    var reader = Reader(bytes: UnsafeBufferPointer(start: data, count: size))
    var client = ClientOnGateway(
        id: ClientID("fuzz"),
        ipv4: clientV4,
        ipv6: clientV6,
        gatewayInterface: gatewayInterface,
        logger: logger
    )
    var model: [ResourceID: ModelResource] = [:]
    /// Which resource each proxy IP stands for, as the last successful resolution said.
    var proxyOwner: [IPAddress: ResourceID] = [:]
    var now = Instant.zero
    let resourceIDs = (0..<4).map { ResourceID("r\($0)") }

    while let opcode = reader.byte() {
        now = now + .milliseconds(Int64(opcode & 0x0F) * 250)
        switch opcode >> 4 {
        case 0, 1:
            // A CIDR resource.
            guard let id = reader.byte(), let selector = reader.byte(), let prefix = reader.byte(),
                let bits = reader.byte(), let port = reader.uint16()
            else { return 0 }
            let v6 = prefix & 0x80 != 0
            let base = address(selector, 0, v6: v6)
            let length = v6 ? (prefix & 0x7F) % 129 : (prefix & 0x7F) % 33
            guard let network = try? IPNetwork(masking: base, prefixLength: length) else { continue }
            let resource = resourceIDs[Int(id) % resourceIDs.count]
            let resourceFilters = filters(bits, port)
            let expiresAt: UInt64? = bits & 0x08 != 0 ? UInt64(port % 64) : nil
            client.allowAccess(
                to: .cidr(id: resource, address: network, name: "", filters: resourceFilters),
                expiresAt: expiresAt
            )
            model[resource] = ModelResource(kind: .cidr(network), filters: resourceFilters, expiresAt: expiresAt)
        case 2:
            guard let id = reader.byte() else { return 0 }
            let resource = resourceIDs[Int(id) % resourceIDs.count]
            client.allowAccess(to: .internet(id: resource), expiresAt: nil)
            model[resource] = ModelResource(kind: .internet, filters: [], expiresAt: nil)
        case 3:
            // A DNS resource, then AssignedIps for one of the domains and the shell's answer.
            guard let id = reader.byte(), let bits = reader.byte(), let port = reader.uint16(),
                let pick = reader.byte(),
                let real = reader.byte()
            else { return 0 }
            let resource = resourceIDs[Int(id) % resourceIDs.count]
            let resourceFilters = filters(bits, port)
            if bits & 0x10 != 0 {
                client.allowAccess(
                    to: .dns(id: resource, address: "*.corp.example", name: "", filters: resourceFilters),
                    expiresAt: nil
                )
                model[resource] = ModelResource(kind: .dns, filters: resourceFilters, expiresAt: nil)
            }
            let domain = domains[Int(pick) % domains.count]
            let first = (pick >> 2) % 8
            let proxies: [IPAddress] = (0..<4).map { .v4(IPv4Address(100, 96, 0, first * 4 + UInt8($0))) }
            switch client.handleAssignedIPs(resource: resource, domain: domain, proxyIPs: proxies) {
            case .reply(let message):
                check(
                    message == .domainStatus(resource: resource, domain: domain, status: .inactive),
                    "an immediate answer is always inactive: \(message)"
                )
            case .resolve(let requested, let name):
                let authorizedDNS: Bool
                if case .dns = model[resource]?.kind { authorizedDNS = true } else { authorizedDNS = false }
                check(requested == resource && authorizedDNS, "resolved for a resource not authorized: \(resource)")
                check(domain != "x.other.example", "resolved a domain outside the pattern: \(domain)")
                let addresses: [IPAddress]? = real == 0 ? nil : [address(real, real >> 4, v6: false)]
                if case .domainStatus(_, _, .active)? = client.handleDomainResolved(
                    resource: resource,
                    domain: name,
                    addresses: addresses
                ) {
                    for proxy in proxies { proxyOwner[proxy] = resource }
                }
            case .pending:
                break
            }
        case 4:
            guard let id = reader.byte() else { return 0 }
            let resource = resourceIDs[Int(id) % resourceIDs.count]
            client.removeAccess(to: resource)
            model[resource] = nil
        case 5:
            guard let seconds = reader.byte() else { return 0 }
            client.removeExpired(unixTime: .seconds(Int64(seconds % 64)))
            for (resource, entry) in model {
                if let expiresAt = entry.expiresAt, expiresAt <= UInt64(seconds % 64) { model[resource] = nil }
            }
        case 6:
            guard let id = reader.byte(), let bits = reader.byte(), let port = reader.uint16() else { return 0 }
            let resource = resourceIDs[Int(id) % resourceIDs.count]
            guard let entry = model[resource] else { continue }
            let resourceFilters = filters(bits, port)
            switch entry.kind {
            case .cidr(let network):
                client.updateFilters(of: .cidr(id: resource, address: network, name: "", filters: resourceFilters))
                model[resource]!.filters = resourceFilters
            case .dns:
                client.updateFilters(
                    of: .dns(id: resource, address: "*.corp.example", name: "", filters: resourceFilters)
                )
                model[resource]!.filters = resourceFilters
            case .internet:
                continue
            }
        case 7, 8, 9, 10, 11:
            guard let packet = buildPacket(&reader) else { continue }
            let destinationProtocol = try? packet.destinationProtocol()
            // The translation rewrites its packet in place; `packet` keeps the original (copy on write).
            var forwarded = packet
            switch client.translateOutbound(&forwarded, now: now) {
            case .forward:
                check(isClientAddress(forwarded.source), "a packet left with a spoofed source: \(forwarded.source)")
                check(isClientAddress(packet.source), "a spoofed packet was forwarded: \(packet.source)")
                let original = packet.destination
                if isGatewayAddress(original) {
                    check(forwarded.destination == original, "a packet to the gateway was rewritten")
                } else if AddressPlan.isProxyRange(original) {
                    let owner = proxyOwner[original]
                    let authorized = owner.flatMap { model[$0] }
                    check(authorized != nil, "a packet to proxy \(original) of no authorized resource was forwarded")
                    check(!AddressPlan.isProxyRange(forwarded.destination), "a proxy packet left untranslated")
                    if let authorized {
                        let engine = FilterEngine(authorized.filters)
                        check(engine.permits(packet), "a proxy packet the filters deny was forwarded")
                    }
                } else {
                    check(!AddressPlan.isTunnelAddress(original), "a packet to another client was forwarded")
                    check(
                        modelAuthorizes(model, original, destinationProtocol),
                        "a packet to \(original) reached no authorized resource"
                    )
                }
            case .reply(let error, _):
                check(
                    error.destination == packet.source && isClientAddress(error.destination),
                    "an ICMP error went astray"
                )
            case .drop:
                break
            }
        default:
            guard let packet = buildPacket(&reader) else { continue }
            let sourceProtocol = try? packet.sourceProtocol()
            let isICMPError = packet.icmp != nil && (try? packet.icmpError()) != nil
            var forwarded = packet
            switch client.translateInbound(&forwarded, now: now) {
            case .forward:
                check(
                    isClientAddress(forwarded.destination),
                    "a packet went to \(forwarded.destination), not the client"
                )
                check(
                    !AddressPlan.isTunnelAddress(forwarded.source) || isGatewayAddress(forwarded.source),
                    "a packet from a tunnel address reached the client"
                )
                if !isGatewayAddress(packet.source) && !isICMPError && !AddressPlan.isProxyRange(forwarded.source) {
                    check(
                        modelAuthorizes(model, packet.source, sourceProtocol),
                        "a packet from \(packet.source) of no authorized resource reached the client"
                    )
                }
                if AddressPlan.isProxyRange(forwarded.source) && !isICMPError {
                    check(
                        proxyOwner[forwarded.source].flatMap { model[$0] } != nil,
                        "a reply from a proxy of no authorized resource"
                    )
                }
            case .drop:
                break
            }
        }
        client.handleTimeout(now: now)
    }
    return 0
}
