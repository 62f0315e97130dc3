/// Packets whose every byte, checksums included, was computed by an independent implementation
/// (Python's `struct` and a textbook RFC 1071 sum), to pin our builders and parsers byte for byte.
enum Vectors {
    /// 10.0.0.1:1234 → 10.0.0.2:53, payload "hello".
    static let udp4 = "4500002100000000401166ca0a0000010a00000204d20035000da2f868656c6c6f"
    /// [fd00::1]:1234 → [fd00::2]:53, payload "hello".
    static let udp6 =
        "60000000000d1140fd000000000000000000000000000001fd00000000000000000000000000000204d20035000dbcf668656c6c6f"
    /// SYN 192.168.1.10:40000 → 93.184.216.34:443, seq 0x01020304, window 64240, MSS 1460.
    static let tcp4 = "4500002c000000004006833fc0a8010a5db8d8229c4001bb01020304000000006002faf003a70000020405b4"
    /// PSH|ACK [fd00:2021:1111::1]:40000 → [2001:db8::80]:80, seq 7, ack 9, window 512, payload "GET /".
    static let tcp6 =
        "6000000000190640fd00202111110000000000000000000120010db80000000000000000000000809c4000500000000700000009"
        + "50180200ea540000474554202f"
    /// Echo request 100.64.0.1 → 10.0.0.5, identifier 0x1234, sequence 1, payload "ping".
    static let icmp4 = "450000200000000040010c98644000010a000005080006fa1234000170696e67"
    /// Echo request fd00::1 → fd00::5, identifier 0x1234, sequence 1, payload "ping".
    static let icmp6 =
        "60000000000c3a40fd000000000000000000000000000001fd000000000000000000000000000005800094ab1234000170696e67"
}
