import CLibBPF
import CRelayXDP
import Glibc
import LinuxIO

/// The relay's XDP program (`ebpf/xdp/relay_xdp.bpf.c`) loaded into the kernel, with its maps.
///
/// Loading verifies the program with the relay's ``XDPConfiguration`` baked in; ``attach(to:mode:)`` then puts
/// it on an interface through a BPF link, so that the kernel detaches it when the link is closed by
/// ``detach()``, by `deinit`, or by the process exiting in any way. While attached, the relay mirrors every
/// channel binding into the maps (``insertBinding(client:channel:peer:port:)``) and reads the per-reason
/// counters (``counters()``) to publish them.
///
/// Not thread-safe: one owner (the relay's IO loop) loads, attaches, writes and reads.
public final class XDPProgram {
    /// `struct bpf_object *`, closed in `deinit`.
    private let object: OpaquePointer
    let programDescriptor: Int32
    private let countersDescriptor: Int32
    /// `chan_to_udp_XY` and `udp_to_chan_XY`, indexed `[X][Y]` with 0 for IPv4 and 1 for IPv6.
    let channelToUDP: [[Int32]]
    let udpToChannel: [[Int32]]
    private var link: (descriptor: Int32, interface: String, mode: XDPAttachMode)?

    /// Loads and verifies the program. A verifier rejection is printed by libbpf on standard error.
    public init(configuration: XDPConfiguration) throws(SystemCallError) {
        var config = configuration.cValue
        var openError: Int32 = 0
        let opened: OpaquePointer? = RelayXDPObject.bytes.withUnsafeBytes { bytes in
            "relay_xdp".withCString { name in
                var options = bpf_object_open_opts()
                options.sz = MemoryLayout<bpf_object_open_opts>.size
                options.object_name = name
                let object = bpf_object__open_mem(bytes.baseAddress, bytes.count, &options)
                openError = errno
                return object
            }
        }
        guard let object = opened else {
            throw libbpfError(operation: "open the embedded XDP object", errno: openError)
        }

        // `config` is the object's only read-only data; libbpf checks the size.
        guard let rodata = bpf_object__find_map_by_name(object, ".rodata") else {
            bpf_object__close(object)
            throw SystemCallError(operation: "find the XDP program's configuration", errno: ENOENT)
        }
        let configured = bpf_map__set_initial_value(rodata, &config, MemoryLayout<relay_xdp_config>.size)
        guard configured == 0 else {
            bpf_object__close(object)
            throw SystemCallError(operation: "configure the XDP program", errno: -configured)
        }
        if let capacity = configuration.bindingCapacity {
            for from in ["4", "6"] {
                for to in ["4", "6"] {
                    for name in ["chan_to_udp_" + from + to, "udp_to_chan_" + from + to] {
                        let map = bpf_object__find_map_by_name(object, name)
                        let resized = map.map { bpf_map__set_max_entries($0, UInt32(clamping: capacity)) } ?? -ENOENT
                        guard resized == 0 else {
                            bpf_object__close(object)
                            throw SystemCallError(operation: "size the XDP map \(name)", errno: -resized)
                        }
                    }
                }
            }
        }
        let loaded = bpf_object__load(object)
        guard loaded == 0 else {
            bpf_object__close(object)
            throw libbpfError(operation: "load the XDP program (the verifier's log, if any, is above)", errno: -loaded)
        }

        func descriptor(ofMap name: String) throws(SystemCallError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name), bpf_map__fd(map) >= 0 else {
                bpf_object__close(object)
                throw SystemCallError(operation: "find the XDP map \(name)", errno: ENOENT)
            }
            return bpf_map__fd(map)
        }
        guard let program = bpf_object__find_program_by_name(object, RELAY_XDP_PROGRAM_NAME) else {
            bpf_object__close(object)
            throw SystemCallError(operation: "find the XDP program \(RELAY_XDP_PROGRAM_NAME)", errno: ENOENT)
        }
        self.object = object
        self.programDescriptor = bpf_program__fd(program)
        self.countersDescriptor = try descriptor(ofMap: RELAY_XDP_COUNTERS_MAP_NAME)
        var channelToUDP: [[Int32]] = []
        var udpToChannel: [[Int32]] = []
        for from in ["4", "6"] {
            var toUDP: [Int32] = []
            var toChannel: [Int32] = []
            for to in ["4", "6"] {
                toUDP.append(try descriptor(ofMap: "chan_to_udp_" + from + to))
                toChannel.append(try descriptor(ofMap: "udp_to_chan_" + from + to))
            }
            channelToUDP.append(toUDP)
            udpToChannel.append(toChannel)
        }
        self.channelToUDP = channelToUDP
        self.udpToChannel = udpToChannel
    }

    deinit {
        self.detach()
        bpf_object__close(self.object)
    }

    /// Attaches the program to `interface`. Fails if the interface does not exist, the mode is unsupported, or
    /// another XDP program is attached there.
    public func attach(to interface: String, mode: XDPAttachMode) throws(SystemCallError) {
        precondition(self.link == nil, "the XDP program is already attached")
        let index = if_nametoindex(interface)
        guard index != 0 else {
            throw SystemCallError(operation: "find the interface \(interface)", errno: errno)
        }
        var options = bpf_link_create_opts()
        options.sz = MemoryLayout<bpf_link_create_opts>.size
        options.flags = mode.flags
        let link = bpf_link_create(self.programDescriptor, Int32(index), BPF_XDP, &options)
        guard link >= 0 else {
            throw SystemCallError(operation: "attach the XDP program to \(interface) in \(mode) mode", errno: -link)
        }
        self.link = (link, interface, mode)
    }

    /// Detaches the program if it is attached.
    public func detach() {
        guard let link = self.link else { return }
        _ = Glibc.close(link.descriptor)
        self.link = nil
    }

    /// The packets and bytes counted under each reason, summed over CPUs.
    public func counters() throws(SystemCallError) -> XDPCounters {
        // A per-CPU map's lookup writes one value per possible CPU, however many the buffer holds: without the count
        // (libbpf reads /sys/devices/system/cpu/possible, absent where /sys is not mounted) there is no safe size.
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else {
            throw SystemCallError(operation: "count the possible CPUs for the XDP counters", errno: Int32(-cpus))
        }
        var perCPU = [relay_xdp_counter](repeating: relay_xdp_counter(), count: cpus)
        var counters = XDPCounters()
        for reason in 0..<Int(RELAY_XDP_REASON_COUNT.rawValue) {
            var key = UInt32(reason)
            let result = bpf_map_lookup_elem(self.countersDescriptor, &key, &perCPU)
            guard result == 0 else {
                throw SystemCallError(operation: "read the XDP counters", errno: errno)
            }
            for value in perCPU {
                counters.packets[reason] &+= value.packets
                counters.bytes[reason] &+= value.bytes
            }
        }
        return counters
    }

    /// The kernel memory the binding and counter maps hold, from `memlock` in each map's fdinfo.
    public func mapMemoryBytes() -> Int {
        (self.channelToUDP + self.udpToChannel).joined().reduce(Self.memlock(of: self.countersDescriptor)) {
            $0 + Self.memlock(of: $1)
        }
    }

    private static func memlock(of descriptor: Int32) -> Int {
        guard let file = fopen("/proc/self/fdinfo/\(descriptor)", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if text.hasPrefix("memlock:") {
                return Int(text.dropFirst("memlock:".count).filter { $0.isNumber }) ?? 0
            }
        }
        return 0
    }
}

/// libbpf answers in errno values, plus codes of its own from LIBBPF_ERRNO__START (4000) up that strerror does not
/// know: for those, libbpf's own words join the operation.
private func libbpfError(operation: String, errno: Int32) -> SystemCallError {
    guard errno >= 4000 else {
        return SystemCallError(operation: operation, errno: errno)
    }
    var message = [CChar](repeating: 0, count: 256)
    _ = libbpf_strerror(-errno, &message, message.count)
    let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return SystemCallError(operation: "\(operation) (libbpf: \(text))", errno: errno)
}
