import IPPacket
import PortalMessages

/// What ``GatewayState`` asks of its shell.
public enum GatewayEvent: Hashable, Sendable {
    /// Send this to the portal.
    case portal(GatewayOutbound)
    /// Resolve `domain`'s A and AAAA records for a client's DNS resource, then call
    /// ``GatewayState/handleDomainResolved(_:addresses:now:)``.
    case resolveDNS(DNSResolutionRequest)
    /// `init` gave the gateway its tunnel addresses: configure the TUN device with them.
    case tunInterfaceUpdated(GatewayInterface)
    /// No relay is usable: reconnect to the portal for a fresh `init` (Firezone 685acdac3a's portal has no
    /// `no_relays` message).
    case noRelays
}

/// A domain to resolve for a client (Firezone's `ResolveDnsRequest`).
public struct DNSResolutionRequest: Hashable, Sendable {
    public var client: ClientID
    public var resource: ResourceID
    public var domain: DomainName

    public init(client: ClientID, resource: ResourceID, domain: DomainName) {
        self.client = client
        self.resource = resource
        self.domain = domain
    }
}
