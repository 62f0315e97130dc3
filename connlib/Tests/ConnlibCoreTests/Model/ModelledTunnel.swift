import ConnlibCore
import IPPacket

/// A tunnel that answers from a reference model of its own, with proxy addresses handed out one after the other,
/// optionally with one rule broken: the harness's own check. Unbroken, it must agree with the model over every
/// sequence (the model's checks accept the answers its own rules give); each broken rule must be caught and shrunk
/// to a short sequence.
struct ModelledTunnel: TunnelSystem {
    enum Mutation: String, CaseIterable, Sendable {
        case none
        /// Neither the client nor the gateway applies filters: prohibited packets reach the resource.
        case ignoresFilters
        /// A revoked resource stays usable.
        case ignoresRevocation
        /// A new client session hands out new proxy addresses instead of the last session's.
        case forgetsProxyIPsOnRestart
        /// The gateway forwards private destinations through the Internet resource.
        case forwardsPrivateThroughInternet
    }

    let mutation: Mutation
    private var model: TunnelModel
    private var allocated: [(key: TunnelModel.ProxyKey, addresses: [IPAddress])] = []
    private var nextProxyOffset: UInt64 = 1
    private var actions = 0

    init(mutation: Mutation, model: TunnelModel = TunnelModel()) {
        self.mutation = mutation
        self.model = model
    }

    mutating func perform(_ action: TunnelAction) -> TunnelObservation {
        self.actions += 1
        switch (self.mutation, action) {
        case (.ignoresRevocation, .upsertResource(_, allowed: false)):
            return .nothing
        case (.forgetsProxyIPsOnRestart, .restartClient):
            self.allocated.removeAll()
        default:
            break
        }
        let expectation = self.model.expect(action)
        let observed: TunnelObservation
        switch expectation {
        case .exactly(let expected):
            observed = expected
        case .proxyIPs(let key):
            observed = .answer(.addresses(self.proxyIPs(for: key)))
            // The inner model learns the addresses it routes; with a broken rule it may disagree, which is the
            // outer model's to find.
            _ = self.model.check(observed, against: expectation)
        }
        switch (self.mutation, observed) {
        case (.ignoresFilters, .packet(.prohibited(let from))):
            return .packet(.reply(from: from))
        case (.forwardsPrivateThroughInternet, .packet(.unreachable(let from))) where !AddressPlan.isProxyRange(from):
            return .packet(.reply(from: from))
        default:
            return observed
        }
    }

    var report: String {
        "modelled tunnel (mutation: \(self.mutation)), \(self.actions) actions"
    }

    private mutating func proxyIPs(for key: TunnelModel.ProxyKey) -> [IPAddress] {
        if let known = self.allocated.first(where: { $0.key == key }) {
            return known.addresses
        }
        let network = key.version == .v4 ? AddressPlan.proxyV4 : AddressPlan.proxyV6
        let addresses = (0..<UInt64(4)).map { network.address(at: self.nextProxyOffset + $0)! }
        self.nextProxyOffset += 4
        self.allocated.append((key, addresses))
        return addresses
    }
}
