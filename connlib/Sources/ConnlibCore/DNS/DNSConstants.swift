/// The numbers of the client's DNS side.
public enum DNSConstants {
    // MARK: Specification

    /// RFC 1035 §2.3.4: labels are 63 octets or less.
    public static let maximumLabelLength = 63
    /// RFC 1035 §2.3.4: names are 255 octets or less.
    public static let maximumNameLength = 255
    /// RFC 1035 §4.1.1: the header is six 16-bit fields.
    public static let headerLength = 12
    /// RFC 1035 §4.2.1: messages carried by UDP are restricted to 512 bytes unless EDNS (RFC 6891 §6.2.3) says more.
    public static let classicUDPPayloadLength = 512
    /// RFC 1035 §4.2: DNS servers listen on port 53, UDP and TCP.
    public static let port: UInt16 = 53
    /// RFC 1035 §4.2.2: a TCP message is prefixed with a two byte length field.
    public static let tcpLengthPrefixLength = 2
    /// RFC 1035 §4.1.4: a compression pointer is two octets whose first two bits are ones.
    public static let compressionPointerMask: UInt8 = 0xC0
    /// The offset of the question's name in every message: right after the header. Answers point here.
    public static let questionNameOffset = 12

    // MARK: Implementation

    /// The TTL of the answers for DNS resources: one second, so that applications ask again soon and a changed
    /// resource list takes effect at once (Firezone's rust/connlib/tunnel/src/dns.rs, `DNS_TTL`).
    public static let resourceAnswerTTL: UInt32 = 1
    /// Proxy addresses handed out per name and address family (rust/connlib/tunnel/src/dns.rs).
    public static let proxyAddressesPerFamily = 4
    /// The most compression pointers a name may follow: more than a name could need (a name has at most 127
    /// labels), few enough that a loop of pointers ends quickly.
    public static let maximumCompressionPointers = 127
    /// Firefox disables its own DNS over HTTPS when this name does not resolve
    /// (https://support.mozilla.org/kb/canary-domain-use-application-dnsnet).
    public static let dohCanaryDomain = DomainName(validatedLabels: ["use-application-dns", "net"])
    /// The UDP payload size our own OPT records offer: 1232 bytes fit an IPv6 packet within the 1280-byte minimum
    /// MTU (RFC 8200 §5) and are what DNS Flag Day 2020 settled on (https://www.dnsflagday.net/2020/).
    public static let ednsUDPPayloadSize: UInt16 = 1232
    /// How long the client waits for a `DomainStatus` before it sends `AssignedIps` again
    /// (rust/connlib/tunnel/src/client/dns_resource_nat.rs).
    public static let assignedIPsRetransmitInterval: Duration = .seconds(2)
    /// The packets buffered per name while the gateway sets up its NAT: the bound connlib puts on every packet
    /// buffer of the client (128 while a resource is being authorized or a connection established).
    public static let natBufferCapacity = 128
}
