import FirezoneOptions

/// The kernel buffer sizes of the tunnel's UDP sockets, and whether the process raises the system's limits to fit
/// them.
///
/// Firezone #10234 made the sizes tunable at run time (`FIREZONE_UDP_SEND_BUFFER_SIZE`,
/// `FIREZONE_UDP_RECV_BUFFER_SIZE`; rust/connlib/socket-factory/src/lib.rs keeps 2 MiB for sending and 16 MiB for
/// receiving: a receive burst must survive the loop being descheduled). SO_RCVBUF and SO_SNDBUF are capped at
/// `net.core.rmem_max` / `wmem_max` for processes without CAP_NET_ADMIN, so Firezone #10349 raises those at start
/// on the gateway unless `FIREZONE_NO_INC_BUF=true`; a desktop client leaves the system alone unless
/// `FIREZONE_INC_BUF=true` asks for it.
public struct UDPSocketBuffers: Sendable, Hashable {
    public enum Role: Sendable, Hashable {
        case gateway
        case client
    }

    public static let defaultSendSize = 2 * 1024 * 1024
    public static let defaultReceiveSize = 16 * 1024 * 1024
    /// The largest size a variable may ask for: what `int` holds, as setsockopt(2) takes.
    public static let maximumSize = Int(Int32.max)

    public static let sendSizeKey = OptionKey(
        "UDP send buffer size",
        flag: "--udp-send-buffer-size",
        variable: "FIREZONE_UDP_SEND_BUFFER_SIZE"
    )
    public static let receiveSizeKey = OptionKey(
        "UDP receive buffer size",
        flag: "--udp-recv-buffer-size",
        variable: "FIREZONE_UDP_RECV_BUFFER_SIZE"
    )
    public static let noIncreaseVariable = "FIREZONE_NO_INC_BUF"
    public static let increaseVariable = "FIREZONE_INC_BUF"

    public var sendSize: Int
    public var receiveSize: Int
    /// Whether to raise `net.core.rmem_max` and `wmem_max` to the sizes (see ``KernelSocketBufferLimits``).
    public var raisesKernelLimits: Bool

    public init(sendSize: Int, receiveSize: Int, raisesKernelLimits: Bool) {
        self.sendSize = sendSize
        self.receiveSize = receiveSize
        self.raisesKernelLimits = raisesKernelLimits
    }

    /// The sizes from the environment (bytes, 1 to 2^31 - 1), the defaults otherwise; the role decides whether the
    /// system's limits are raised.
    public init(reader: OptionReader, role: Role) throws(OptionError) {
        let range = 1...Self.maximumSize
        self.sendSize = try reader.integer(Self.sendSizeKey, flag: nil, in: range) ?? Self.defaultSendSize
        self.receiveSize = try reader.integer(Self.receiveSizeKey, flag: nil, in: range) ?? Self.defaultReceiveSize
        switch role {
        case .gateway:
            self.raisesKernelLimits = !(try Self.flag(Self.noIncreaseVariable, reader: reader))
        case .client:
            self.raisesKernelLimits = try Self.flag(Self.increaseVariable, reader: reader)
        }
    }

    /// `true` or `false` (Firezone reads these with clap's boolean parser), false when unset.
    private static func flag(_ variable: String, reader: OptionReader) throws(OptionError) -> Bool {
        guard let text = reader.variable(variable) else {
            return false
        }
        switch text.lowercased() {
        case "true", "1", "yes", "on":
            return true
        case "false", "0", "no", "off":
            return false
        default:
            throw OptionError("invalid \(variable) '\(text)': expected true or false")
        }
    }
}
