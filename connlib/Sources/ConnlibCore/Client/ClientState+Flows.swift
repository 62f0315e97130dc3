import DequeModule
import FirezoneTime
import ICE
import IPPacket
import NIOCore
import PortalMessages
import Snownet

extension ClientState {
    // MARK: Requesting flows

    /// Keeps `packet` until the resource's flow is established: at most ``ClientConstants/flowBufferCapacity``
    /// packets, the oldest going first, and never the same packet twice (an application retransmitting while the
    /// flow is set up would otherwise fill the buffer with copies). A copy of its own, with room to be sealed in
    /// place: the caller's buffer may be a receive buffer it reuses once the input returns.
    mutating func buffer(_ packet: IPPacket, for resource: ResourceID) {
        var pending = self.pendingFlows[resource] ?? PendingFlow()
        if pending.packets.contains(where: { $0.buffer == packet.buffer }) {
            self.stats.count(.duplicate)
            return
        }
        if pending.packets.count >= ClientConstants.flowBufferCapacity {
            pending.packets.removeFirst()
            self.stats.count(.flowBufferFull)
        }
        pending.packets.append(packet.copy(headroom: NodeConstants.headroom, tailroom: NodeConstants.tailroom))
        self.pendingFlows[resource] = pending
    }

    /// Sends `create_flow` for `resource` unless one went out less than ``ClientConstants/flowRequestInterval`` ago.
    /// `connected_gateway_ids` lists the recently connected gateways in UUID order, as connlib's `BTreeSet` does,
    /// so that the portal picks one the client already has a connection to.
    mutating func requestFlow(for resource: ResourceID, now: Instant) {
        if let last = self.lastFlowRequest[resource], now - last < ClientConstants.flowRequestInterval {
            return
        }
        self.lastFlowRequest[resource] = now
        self.stats.flowsRequested += 1
        self.portalMessages.append(
            .createFlow(
                CreateFlow(resourceID: resource, connectedGatewayIDs: Self.connectedGatewayIDs(self.recentGateways))
            )
        )
    }

    /// The gateways `create_flow` names: every recently connected one, in UUID order.
    package static func connectedGatewayIDs(_ recent: LRUCache<GatewayID, Void>) -> [GatewayID] {
        recent.keysByRecency.sorted()
    }

    // MARK: Portal answers

    /// `flow_created`: connects to the gateway (role controlling, the client's ICE credentials local) and routes
    /// the resource via it. Its buffered packets go out once the connection is established.
    mutating func flowCreated(_ flow: FlowCreated, now: Instant) {
        guard self.resources[flow.resourceID] != nil else {
            self.stats.count(.unknownPortalReference)
            return
        }
        do throws(NodeError) {
            try self.node.upsertConnection(
                flow.gatewayID,
                remoteKey: flow.gatewayPublicKey,
                presharedKey: flow.presharedKey,
                local: ICE.IceCredentials(flow.clientIceCredentials),
                remote: ICE.IceCredentials(flow.gatewayIceCredentials),
                now: now
            )
        } catch .noRelays {
            // The seed era's answer to NoTurnServers: reconnect to the portal for a fresh `init` with relays. The
            // packets stay; the next one asks for the flow again.
            self.events.append(.noRelays)
            return
        } catch {
            self.logger.info(
                "Cannot connect to gateway",
                metadata: ["gateway.id": "\(flow.gatewayID)", "error": "\(error)"]
            )
            self.dropPendingPackets(of: flow.resourceID)
            return
        }
        if let previous = self.gatewayByResource[flow.resourceID], previous != flow.gatewayID {
            self.gateways[previous]?.resources.remove(flow.resourceID)
        }
        var peer =
            self.gateways[flow.gatewayID]
            ?? GatewayPeer(site: flow.siteID, ipv4: flow.gatewayIPv4, ipv6: flow.gatewayIPv6)
        peer.site = flow.siteID
        peer.ipv4 = flow.gatewayIPv4
        peer.ipv6 = flow.gatewayIPv6
        peer.resources.append(flow.resourceID)
        peer.established = self.node.isEstablished(flow.gatewayID)
        self.gateways[flow.gatewayID] = peer
        self.gatewayByResource[flow.resourceID] = flow.gatewayID
        self.rebuildRoutingTable()
        if peer.established {
            self.flushPendingPackets(of: flow.resourceID, via: flow.gatewayID, now: now)
        }
    }

    /// `flow_creation_failed`: the resource's packets are dropped; `offline` marks all its sites offline.
    mutating func flowCreationFailed(_ failure: FlowCreationFailed) {
        guard let resource = self.resources[failure.resourceID] else {
            self.stats.count(.unknownPortalReference)
            return
        }
        self.logger.debug(
            "Flow creation failed",
            metadata: ["resource.id": "\(failure.resourceID)", "reason": "\(failure.reason)"]
        )
        self.dropPendingPackets(of: failure.resourceID)
        if case .offline = failure.reason {
            for site in resource.sites {
                self.siteStatus[site.id] = .offline
            }
            self.resourcesDidChange()
        }
    }

    // MARK: Connections

    mutating func connectionEstablished(_ gateway: GatewayID, now: Instant) {
        self.logger.info("Connection established", metadata: ["gateway.id": "\(gateway)"])
        self.recentGateways.insert((), for: gateway)
        guard var peer = self.gateways[gateway] else {
            return
        }
        peer.established = true
        self.gateways[gateway] = peer
        if self.siteStatus[peer.site] != .online {
            self.siteStatus[peer.site] = .online
            self.resourcesDidChange()
        }
        for resource in peer.resources {
            self.flushPendingPackets(of: resource, via: gateway, now: now)
        }
    }

    /// A connection failed, closed or said goodbye: the resources routed via it lose their flow and their
    /// buffered packets, so that the next packet asks the portal again.
    mutating func forgetGateway(_ gateway: GatewayID) {
        guard let peer = self.gateways.removeValue(forKey: gateway) else {
            return
        }
        for resource in peer.resources {
            self.gatewayByResource.removeValue(forKey: resource)
            self.dropPendingPackets(of: resource)
        }
        self.dnsResourceNAT.clear(gateway: gateway)
        self.rebuildRoutingTable()
    }

    /// Ends a resource's flow (it changed or went away): it is no longer routed via its gateway.
    mutating func endFlow(of resource: ResourceID) {
        self.dropPendingPackets(of: resource)
        guard let gateway = self.gatewayByResource.removeValue(forKey: resource) else {
            return
        }
        self.gateways[gateway]?.resources.remove(resource)
        self.rebuildRoutingTable()
    }

    mutating func dropPendingPackets(of resource: ResourceID) {
        guard let pending = self.pendingFlows.removeValue(forKey: resource) else {
            return
        }
        for _ in pending.packets {
            self.stats.count(.flowFailed)
        }
    }

    mutating func flushPendingPackets(of resource: ResourceID, via gateway: GatewayID, now: Instant) {
        guard let pending = self.pendingFlows.removeValue(forKey: resource) else {
            return
        }
        for packet in pending.packets {
            if AddressPlan.isSentinel(packet.destination) {
                // An SRV or TXT query that waited for the flow: it goes to the gateway's DNS server now.
                let sentinel = IPSocketAddress(packet.destination, port: Self.dnsPort)
                self.forwardToGateway(packet, resource: resource, sentinel: sentinel, now: now)
            } else {
                self.deliver(packet, via: gateway, now: now)
            }
        }
    }

    // MARK: Sending

    /// Encrypts `packet` for `gateway` and queues the datagram. A packet without the headroom and tailroom
    /// snownet seals in is copied into a buffer that has them; one with them is sealed in place.
    mutating func send(_ packet: consuming IPPacket, via gateway: GatewayID, now: Instant) {
        var buffer = packet.intoBuffer().withEncapsulationRoom()
        if let destination = self.seal(&buffer, for: gateway, now: now) {
            self.transmits.append(
                NodeTransmit(source: destination.source, destination: destination.destination, payload: buffer)
            )
        }
    }

    /// Seals `buffer` in place for `gateway`: where the datagram goes, or nil when it is not sent now.
    mutating func seal(_ buffer: inout ByteBuffer, for gateway: GatewayID, now: Instant) -> NodeDestination? {
        do {
            return try self.node.encapsulate(&buffer, for: gateway, now: now)
        } catch {
            self.stats.count(.flowFailed)
            return nil
        }
    }
}

extension ICE.IceCredentials {
    /// The portal's spelling of ICE credentials.
    init(_ credentials: PortalMessages.IceCredentials) {
        self.init(ufrag: credentials.username, password: credentials.password)
    }
}
