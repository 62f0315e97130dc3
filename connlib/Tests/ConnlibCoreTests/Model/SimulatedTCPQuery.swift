import ConnlibCore
import IPPacket
import NIOCore

/// An application asking the client's DNS stub over TCP (RFC 7766): it connects to the sentinel's port 53, sends
/// the framed query, collects the answer and closes. `exchange` hands a packet to the client state's TUN input and
/// returns what the state wrote to its TUN device in response.
struct SimulatedTCPQuery {
    private var connection: DNSTCPTestClient

    init(from client: IPSocketAddress, to sentinel: IPAddress) {
        self.connection = DNSTCPTestClient(local: client, remote: IPSocketAddress(sentinel, port: DNSConstants.port))
    }

    /// Connects and sends `query`; a description of what went wrong, if anything did.
    mutating func open(query: ByteBuffer, exchange: (IPPacket) -> [IPPacket]) -> String? {
        do {
            if let unexpected = try self.take(exchange(try self.connection.syn()), exchange: exchange).first {
                return "after the SYN: \(SimulatedTunnel.describe(unexpected))"
            }
            guard self.connection.connected else {
                return "no SYN-ACK from the sentinel"
            }
            let framed = DNSTCPTestClient.framed(query)
            if let unexpected = try self.take(exchange(try self.connection.send(framed)), exchange: exchange).first {
                return "after the query: \(SimulatedTunnel.describe(unexpected))"
            }
            return nil
        } catch {
            return "cannot build a segment: \(error)"
        }
    }

    /// Whether the query is still open without an answer or a reset.
    var isWaiting: Bool {
        self.connection.answers.isEmpty && !self.connection.reset
    }

    /// Takes what the TUN device got since the query went out, then closes the connection; the one answer, or a
    /// description of what went wrong.
    mutating func finish(tun: [IPPacket], exchange: (IPPacket) -> [IPPacket]) -> Result<ByteBuffer, Failure> {
        do {
            let others = try self.take(tun, exchange: exchange)
            guard others.isEmpty else {
                return .failure(Failure("other packets: \(others.map(SimulatedTunnel.describe))"))
            }
            let answers = self.connection.answers
            guard answers.count == 1, !self.connection.reset else {
                return .failure(Failure("\(answers.count) answers, reset: \(self.connection.reset)"))
            }
            // Our FIN: the stub acknowledges it and closes its side; our last ACK ends the connection.
            if let unexpected = try self.take(exchange(try self.connection.fin()), exchange: exchange).first {
                return .failure(Failure("after the FIN: \(SimulatedTunnel.describe(unexpected))"))
            }
            guard self.connection.serverFinReceived else {
                return .failure(Failure("the stub did not close the connection"))
            }
            return .success(answers[0])
        } catch {
            return .failure(Failure("cannot build a segment: \(error)"))
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String

        init(_ description: String) {
            self.description = description
        }
    }

    /// Feeds the sentinel's segments to the connection and its acknowledgments back to the stub, until quiet;
    /// returns the packets that were not for this connection.
    private mutating func take(_ packets: [IPPacket], exchange: (IPPacket) -> [IPPacket]) throws -> [IPPacket] {
        var pending = packets[...]
        var others: [IPPacket] = []
        while let packet = pending.popFirst() {
            guard let tcp = packet.tcp, packet.source == self.connection.remote.address,
                tcp.sourcePort == self.connection.remote.port, tcp.destinationPort == self.connection.local.port
            else {
                others.append(packet)
                continue
            }
            if let reply = try self.connection.handle(packet) {
                pending.append(contentsOf: exchange(reply))
            }
        }
        return others
    }
}
