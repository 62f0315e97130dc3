import IPPacket
import NIOCore

/// A TCP connection to a sentinel's port 53: its two ends, and a serial that tells apart connections reusing the
/// same ends, so that an answer arriving late never lands in a newer connection.
public struct DNSTCPConnectionID: Hashable, Sendable, CustomStringConvertible {
    /// The sentinel and port 53.
    public var local: IPSocketAddress
    /// The application's address and port.
    public var remote: IPSocketAddress
    public var serial: UInt64

    public init(local: IPSocketAddress, remote: IPSocketAddress, serial: UInt64) {
        self.local = local
        self.remote = remote
        self.serial = serial
    }

    var ends: DNSTCPConnectionEnds {
        DNSTCPConnectionEnds(local: self.local, remote: self.remote)
    }

    public var description: String {
        "\(self.remote) -> \(self.local) #\(self.serial)"
    }
}

/// The key of a connection in the server's table: the two ends of the flow.
struct DNSTCPConnectionEnds: Hashable {
    var local: IPSocketAddress
    var remote: IPSocketAddress
}

/// A DNS query read from a TCP connection, to be answered with ``DNSTCPServer/sendAnswer(_:on:now:)``.
public struct DNSTCPQuery: Sendable {
    public var connection: DNSTCPConnectionID
    /// The DNS message without its length prefix.
    public var message: ByteBuffer
}
