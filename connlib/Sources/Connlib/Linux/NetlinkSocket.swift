import CLinuxIO
import Glibc
import LinuxIO

/// A NETLINK_ROUTE socket (rtnetlink(7)): requests answered by an acknowledgement or a dump, or, subscribed to
/// multicast groups, the kernel's change notifications.
///
/// Every request carries a fresh sequence number; replies with another one (answers to a request given up on)
/// are skipped. The receive buffer is allocated once and bounded; a reply longer than it is an error, never a
/// silent truncation.
final class NetlinkSocket {
    /// Bytes of one receive: the kernel sizes dump datagrams to the reader's buffer up to 32 KiB
    /// (`netlink_dump`, net/netlink/af_netlink.c), so 64 KiB holds any of them.
    static let receiveCapacity = 65_536
    /// How long a request waits for the kernel's answer before it fails with EAGAIN.
    static let replyTimeout = Duration.seconds(5)

    let fd: Int32
    private var sequence: UInt32
    private var receiveBuffer: [UInt8]

    /// Opens the socket; `groups` is the `RTMGRP_*` mask to listen to (0 for a request socket).
    init(groups: UInt32 = 0, nonBlocking: Bool = false) throws(SystemCallError) {
        let type =
            Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_NETLINK, type, NETLINK_ROUTE)
        guard fd >= 0 else {
            throw SystemCallError(operation: "socket(AF_NETLINK, NETLINK_ROUTE)", errno: errno)
        }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = groups
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        guard bound == 0 else {
            let error = errno
            close(fd)
            throw SystemCallError(operation: "bind netlink socket", errno: error)
        }
        if !nonBlocking {
            var timeout = timeval(tv_sec: Int(Self.replyTimeout.components.seconds), tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        self.fd = fd
        // Any start value will do; distinct per socket so that two sockets' replies are told apart in traces.
        self.sequence = UInt32(truncatingIfNeeded: fd) << 16
        self.receiveBuffer = [UInt8](repeating: 0, count: Self.receiveCapacity)
    }

    deinit {
        close(self.fd)
    }

    func nextSequence() -> UInt32 {
        self.sequence &+= 1
        return self.sequence
    }

    /// Sends a request built with NLM_F_ACK and waits for its acknowledgement; a negative acknowledgement
    /// (NLMSG_ERROR with an errno) throws, naming `operation`.
    func request(_ message: inout NetlinkMessage, sequence: UInt32, operation: String) throws(SystemCallError) {
        try self.send(&message, operation: operation)
        var acknowledged = false
        while !acknowledged {
            try self.receive(sequence: sequence, operation: operation) { type, _ throws(SystemCallError) in
                if type == Int32(NLMSG_ERROR) || type == Int32(NLMSG_DONE) {
                    acknowledged = true
                }
                return !acknowledged
            }
        }
    }

    /// Sends a NLM_F_DUMP request and hands each reply message (its type and the bytes after the `nlmsghdr`) to
    /// `each`, until NLMSG_DONE.
    func dump(
        _ message: inout NetlinkMessage,
        sequence: UInt32,
        operation: String,
        each: (Int32, UnsafeRawBufferPointer) -> Void
    ) throws(SystemCallError) {
        try self.send(&message, operation: operation)
        var done = false
        while !done {
            try self.receive(sequence: sequence, operation: operation) { type, payload throws(SystemCallError) in
                if type == Int32(NLMSG_DONE) || type == Int32(NLMSG_ERROR) {
                    done = true
                    return false
                }
                each(type, payload)
                return true
            }
        }
    }

    /// Reads what is waiting without blocking (a subscribed socket) and hands each message to `each`. Returns
    /// false when the kernel dropped notifications because the socket's queue overflowed (ENOBUFS): the reader
    /// has then missed changes and must assume anything changed.
    func drainNotifications(each: (Int32, UnsafeRawBufferPointer) -> Void) throws(SystemCallError) -> Bool {
        while true {
            let received = self.receiveBuffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if received < 0 {
                switch errno {
                case EAGAIN: return true
                case EINTR: continue
                case ENOBUFS: return false
                case let error: throw SystemCallError(operation: "receive netlink notifications", errno: error)
                }
            }
            self.receiveBuffer.withUnsafeBytes { bytes in
                Self.forEachMessage(in: UnsafeRawBufferPointer(rebasing: bytes[..<received])) { header, payload in
                    each(Int32(header.nlmsg_type), payload)
                    return true
                }
            }
        }
    }

    private func send(_ message: inout NetlinkMessage, operation: String) throws(SystemCallError) {
        message.finish()
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        let sent = message.bytes.withUnsafeBytes { bytes in
            withUnsafePointer(to: &kernel) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(self.fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        guard sent == message.bytes.count else {
            throw SystemCallError(operation: operation, errno: sent < 0 ? errno : EMSGSIZE)
        }
    }

    /// Receives one datagram and walks its messages of `sequence`; `handle` returns false to stop. An
    /// NLMSG_ERROR with a non-zero code throws.
    private func receive(
        sequence: UInt32,
        operation: String,
        handle: (Int32, UnsafeRawBufferPointer) throws(SystemCallError) -> Bool
    ) throws(SystemCallError) {
        var received: Int
        repeat {
            received = self.receiveBuffer.withUnsafeMutableBytes {
                recv(self.fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC))
            }
        } while received < 0 && errno == EINTR
        guard received >= 0 else {
            throw SystemCallError(operation: operation, errno: errno)
        }
        guard received <= Self.receiveCapacity else {
            throw SystemCallError(operation: operation, errno: EMSGSIZE)
        }
        var failure: SystemCallError?
        self.receiveBuffer.withUnsafeBytes { bytes in
            Self.forEachMessage(in: UnsafeRawBufferPointer(rebasing: bytes[..<received])) { header, payload in
                guard header.nlmsg_seq == sequence else { return true }
                let type = Int32(header.nlmsg_type)
                if type == Int32(NLMSG_ERROR) {
                    // nlmsgerr: a negative errno, 0 for an acknowledgement (netlink(7)).
                    let code = payload.count >= 4 ? payload.loadUnaligned(as: Int32.self) : -EBADMSG
                    if code != 0 {
                        failure = SystemCallError(operation: operation, errno: -code)
                        return false
                    }
                }
                do throws(SystemCallError) {
                    return try handle(type, payload)
                } catch {
                    failure = error
                    return false
                }
            }
        }
        if let failure {
            throw failure
        }
    }

    /// Walks the messages of one datagram (`NLMSG_OK`, `NLMSG_NEXT`), stopping at a malformed length.
    private static func forEachMessage(
        in bytes: UnsafeRawBufferPointer,
        _ body: (nlmsghdr, UnsafeRawBufferPointer) -> Bool
    ) {
        var offset = 0
        let headerLength = NetlinkMessage.headerLength
        while offset + headerLength <= bytes.count {
            let header = bytes.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self)
            let length = Int(header.nlmsg_len)
            guard length >= headerLength, offset + length <= bytes.count else { return }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + headerLength)..<(offset + length)])
            guard body(header, payload) else { return }
            offset += (length + NetlinkMessage.alignment - 1) & ~(NetlinkMessage.alignment - 1)
        }
    }
}
