import IPPacket

/// Why ``NATTable`` refuses to translate a client's packet to a proxy IP.
public enum NATTableError: Error, Hashable, Sendable {
    /// The packet is neither TCP, UDP nor an ICMP echo: a NAT keyed by port cannot carry it.
    case noPortOrIdentifier(IPProtocol)
    /// The proxy IP and the real IP are of different families; translating between them is not done.
    case familyMismatch(proxy: IPAddress, real: IPAddress)
    /// The client holds as many sessions as the table allows (``NATConstants/maximumSessionsPerClient``).
    case full(capacity: Int)
    /// Every port (or identifier) of the inside key's protocol towards this real IP is taken.
    case portsExhausted(NATTable.Inside, realAddress: IPAddress)
}
