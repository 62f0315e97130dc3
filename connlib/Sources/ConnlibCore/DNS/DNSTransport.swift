/// How an application asked the stub, and so how a recursive query goes to the upstream: a query that came over
/// TCP goes on over TCP, so that an answer too large for UDP (RFC 7766 §1) reaches it whole.
public enum DNSTransport: Hashable, Sendable {
    case udp
    case tcp
}
