import IPPacket
import LinuxIO
import Logging
import RelayCore
import RelayXDP

/// Where and how the relay offloads channel data to XDP (Firezone's relay CLI, rust/relay/server/src/main.rs: `EBPF_OFFLOADING`, `EBPF_ATTACH_MODE`,
/// `EBPF_INT4_ADDR`, `EBPF_INT6_ADDR`).
public struct XDPOffloadConfiguration: Sendable, Hashable {
    public var interface: String
    public var mode: XDPAttachMode
    /// The interface's addresses, the source of packets translated into that family; without one, the
    /// relay's public address of that family.
    public var interfaceIPv4: IPv4Address?
    public var interfaceIPv6: IPv6Address?
    /// Bindings per map (`EBPF_BINDING_CAPACITY`); nil for the program's default.
    public var bindingCapacity: Int?

    public init(
        interface: String,
        mode: XDPAttachMode,
        interfaceIPv4: IPv4Address?,
        interfaceIPv6: IPv6Address?,
        bindingCapacity: Int? = nil
    ) {
        self.interface = interface
        self.mode = mode
        self.interfaceIPv4 = interfaceIPv4
        self.interfaceIPv6 = interfaceIPv6
        self.bindingCapacity = bindingCapacity
    }
}

/// The XDP fast path as the relay's IO loop drives it: loaded and attached on creation, kept in step with the
/// core's channel bindings through ``mirror(_:)``, detached by ``detach()`` or when the process ends.
///
/// With it attached, steady-state channel data never reaches the relay's sockets: only STUN/TURN control and
/// what the program leaves to the kernel (as Firezone's rust/relay/server/src/main.rs).
public final class XDPOffload {
    private let program: XDPProgram
    private let logger: Logger
    /// Bindings the maps refused (a full map, any insert error). Such a binding is relayed by userspace: the
    /// program passes traffic it has no binding for to the kernel, and the relay's sockets relay it. The next
    /// refresh of the binding tries the insert again.
    public private(set) var failedInserts = 0

    public init(relay: RelayConfiguration, offload: XDPOffloadConfiguration, logger: Logger) throws(SystemCallError) {
        self.logger = logger
        self.program = try XDPProgram(
            configuration: XDPConfiguration(
                publicIPv4: relay.publicIPv4,
                publicIPv6: relay.publicIPv6,
                interfaceIPv4: offload.interfaceIPv4 ?? relay.publicIPv4,
                interfaceIPv6: offload.interfaceIPv6 ?? relay.publicIPv6,
                listenPort: relay.listenPort,
                allocationPorts: relay.allocationPorts,
                interfaceMTU: try InterfaceMTU.of(offload.interface),
                bindingCapacity: offload.bindingCapacity
            )
        )
        try self.program.attach(to: offload.interface, mode: offload.mode)
        logger.info(
            "XDP offload attached",
            metadata: [
                "xdp.interface": "\(offload.interface)",
                "xdp.mode": "\(offload.mode)",
                "xdp.map_memory_bytes": "\(self.program.mapMemoryBytes())",
            ]
        )
    }

    /// Drives a loaded `program` as it is, attached or not: tests run it on frames with `BPF_PROG_TEST_RUN`.
    package init(program: XDPProgram, logger: Logger) {
        self.program = program
        self.logger = logger
    }

    /// Inserts or deletes both directions of a channel binding; other commands are not the offload's.
    public func mirror(_ command: RelayCommand) {
        switch command {
        case .createChannelBinding(let client, let channel, let peer, let port),
            .refreshChannelBinding(let client, let channel, let peer, let port):
            do throws(SystemCallError) {
                try self.program.insertBinding(client: client, channel: channel, peer: peer, port: port)
            } catch {
                self.failedInserts += 1
                self.logger.warning(
                    "Cannot mirror a channel binding into the XDP maps; userspace relays it",
                    metadata: ["error": "\(error)"]
                )
            }
        case .deleteChannelBinding(let client, let channel, let peer, let port):
            do throws(SystemCallError) {
                try self.program.deleteBinding(client: client, channel: channel, peer: peer, port: port)
            } catch {
                self.logger.error("Cannot delete a channel binding from the XDP maps", metadata: ["error": "\(error)"])
            }
        case .sendMessage, .createAllocation, .freeAllocation:
            return
        }
    }

    /// The program's counters, or nil (logged) if the kernel would not give them.
    public func counters() -> XDPCounters? {
        do {
            return try self.program.counters()
        } catch {
            self.logger.warning("Cannot read the XDP counters", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The kernel memory the program's maps hold.
    public var mapMemoryBytes: Int {
        self.program.mapMemoryBytes()
    }

    public func detach() {
        self.program.detach()
        self.logger.info("XDP offload detached")
    }
}
