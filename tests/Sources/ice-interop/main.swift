// Our ICE agent on a real UDP socket, for interoperability tests against another RFC 8445 agent
// (tests/integration/ice-aioice.sh). Signalling is the command line in and standard output out:
//
//     ice-interop controlling|controlled <remote ufrag> <remote password> <remote candidate>...
//
// It binds 127.0.0.1 on a free port, prints `ufrag …`, `password …` and `candidate …` (our SDP), then runs the
// agent. Exit 0 once a pair is nominated and the connection stayed connected for `holdAfterConnected` (the peer
// answered our keep-alive checks meanwhile); exit 1 when that did not happen within `deadline`; 2 on bad usage.
import FirezoneTime
import Glibc
import ICE
import IPPacket
import Logging
import NIOCore
import STUN

let holdAfterConnected: Duration = .seconds(5)
let deadline: Duration = .seconds(30)

/// One line to a file descriptor, unbuffered: the test reads our signalling while we run.
func writeLine(_ text: String, to descriptor: Int32) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
}

func emit(_ text: String) {
    writeLine(text, to: STDOUT_FILENO)
}

func printError(_ text: String) {
    writeLine(text, to: STDERR_FILENO)
}

func fail(_ message: String, code: Int32) -> Never {
    printError(message)
    exit(code)
}

func monotonicNow() -> Instant {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Instant(nanoseconds: UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec))
}

func socketAddress(_ storage: sockaddr_in) -> IPSocketAddress {
    IPSocketAddress(
        .v4(IPv4Address(rawValue: UInt32(bigEndian: storage.sin_addr.s_addr))),
        port: UInt16(bigEndian: storage.sin_port)
    )
}

func sockaddrIn(_ address: IPSocketAddress) -> sockaddr_in? {
    guard case .v4(let v4) = address.address else {
        return nil
    }
    var storage = sockaddr_in()
    storage.sin_family = sa_family_t(AF_INET)
    storage.sin_port = address.port.bigEndian
    storage.sin_addr.s_addr = v4.rawValue.bigEndian
    return storage
}

let arguments = CommandLine.arguments
guard arguments.count >= 4, let role = ["controlling": IceRole.controlling, "controlled": .controlled][arguments[1]]
else {
    fail("usage: ice-interop controlling|controlled <remote ufrag> <remote password> <remote candidate>...", code: 2)
}

let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
guard descriptor >= 0 else {
    fail("socket: \(String(cString: strerror(errno)))", code: 1)
}
var bindAddress = sockaddrIn(IPSocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0))!
let bound = withUnsafePointer(to: &bindAddress) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
}
guard bound == 0 else {
    fail("bind: \(String(cString: strerror(errno)))", code: 1)
}
var boundAddress = sockaddr_in()
var boundLength = socklen_t(MemoryLayout<sockaddr_in>.size)
_ = withUnsafeMutablePointer(to: &boundAddress) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &boundLength) }
}
let localSocket = socketAddress(boundAddress)

// The seed only has to differ between runs: this is a test, not a deployment.
let start = monotonicNow()
let local = IceCredentials(ufrag: "sw\(start.nanoseconds % 10_000)", password: "swift-ice-interop-\(start.nanoseconds)")
let remote = IceCredentials(ufrag: arguments[2], password: arguments[3])
LoggingSystem.bootstrap(StreamLogHandler.standardError)
var logger = Logger(label: "ice-interop")
logger.logLevel = .debug
var agent = IceAgent(role: role, local: local, remote: remote, seed: start.nanoseconds, logger: logger)
guard let candidate = agent.addLocalCandidate(.host(localSocket)) else {
    fail("the agent rejected our host candidate", code: 1)
}
emit("ufrag \(local.ufrag)")
emit("password \(local.password)")
emit("candidate \(candidate.sdp)")

for line in arguments.dropFirst(4) {
    do {
        agent.addRemoteCandidate(try Candidate(parsing: line), now: monotonicNow())
    } catch {
        printError("skipping remote candidate '\(line)': \(error)")
    }
}

var connectedSince: Instant?
var receiveBuffer = [UInt8](repeating: 0, count: 2_048)
while true {
    let now = monotonicNow()
    if let timeout = agent.pollTimeout(), timeout <= now {
        agent.handleTimeout(now: now)
    }
    while let transmit = agent.pollTransmit() {
        guard var destination = sockaddrIn(transmit.destination) else {
            continue
        }
        let bytes = Array(transmit.payload.readableBytesView)
        _ = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
    while let event = agent.pollEvent() {
        switch event {
        case .nominated(let local, let remote):
            emit("nominated \(local.base) -> \(remote.address)")
        case .stateChanged(let state):
            emit("state \(state)")
            connectedSince = state == .connected ? (connectedSince ?? now) : nil
        }
    }
    if let connectedSince, now - connectedSince >= holdAfterConnected {
        emit("ok")
        exit(0)
    }
    if now - start >= deadline {
        fail("no connection within \(deadline)", code: 1)
    }

    let wait = agent.pollTimeout().map { $0 - now } ?? .milliseconds(100)
    let waitMilliseconds = Int32(clamping: max(0, min(wait, .milliseconds(100)).nanoseconds / 1_000_000))
    var descriptors = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    guard poll(&descriptors, 1, waitMilliseconds) > 0 else {
        continue
    }
    var source = sockaddr_in()
    var sourceLength = socklen_t(MemoryLayout<sockaddr_in>.size)
    let received = withUnsafeMutablePointer(to: &source) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            recvfrom(descriptor, &receiveBuffer, receiveBuffer.count, 0, $0, &sourceLength)
        }
    }
    guard received > 0 else {
        continue
    }
    let datagram = ByteBuffer(bytes: receiveBuffer[0..<received])
    guard let message = try? STUNMessage(decoding: datagram), agent.accepts(message) else {
        continue
    }
    agent.handleSTUN(message, from: socketAddress(source), to: localSocket, now: monotonicNow())
}
