#!/usr/bin/env python3
"""Regenerates the committed seed corpora of the fuzz targets: `python3 tests/fuzz/make-corpus.py`.

stun: one STUN message or ChannelData datagram per file; relay-server and snownet: sequences of records (see
Sources/RelayServerFuzzer and Sources/SnownetFuzzer); dns-message: one DNS message, TCP stream or `PATTERN NAME`
per file; dns-tcp-server: a sequence of segments, timeouts and answers (see Sources/DNSTCPServerFuzzer). `make-corpus.py TARGET...` regenerates only those.

ip-packet: one file per packet, named after what it is. A file is the packet's bytes, optionally followed by a
rewrite script (see Sources/IPPacketFuzzer/IPPacketFuzzer.swift: the packet is as long as its header says, the
rest is the script). Valid packets carry correct checksums unless the name says otherwise. Only the standard
library is used; the checksums are computed here, independently of the Swift code.
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# MARK: Checksums (RFC 1071)


def ones_complement_sum(data: bytes, initial: int = 0) -> int:
    if len(data) % 2:
        data += b"\0"
    total = initial
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes, initial: int = 0) -> int:
    return ~ones_complement_sum(data, initial) & 0xFFFF


# MARK: Addresses


def v4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def v6(text: str) -> bytes:
    head, _, tail = text.partition("::")
    head_groups = [int(g, 16) for g in head.split(":") if g]
    tail_groups = [int(g, 16) for g in tail.split(":") if g]
    groups = head_groups + [0] * (8 - len(head_groups) - len(tail_groups)) + tail_groups
    return struct.pack("!8H", *groups)


CLIENT4, SERVER4 = v4("100.64.0.1"), v4("10.0.0.53")
CLIENT6, SERVER6 = v6("fd00:2021:1111::1"), v6("2001:db8::53")

# MARK: Transport segments, checksum field zero; `finish` fills it in


def udp(source_port: int, destination_port: int, payload: bytes, length: int | None = None) -> bytes:
    length = 8 + len(payload) if length is None else length
    return struct.pack("!HHHH", source_port, destination_port, length, 0) + payload


def tcp(
    source_port: int,
    destination_port: int,
    flags: int,
    options: bytes = b"",
    payload: bytes = b"",
    sequence: int = 0x01020304,
    acknowledgment: int = 0,
    data_offset: int | None = None,
) -> bytes:
    assert len(options) % 4 == 0
    words = 5 + len(options) // 4 if data_offset is None else data_offset
    header = struct.pack("!HHIIBBHHH", source_port, destination_port, sequence, acknowledgment, words << 4, flags,
                         65535, 0, 0)
    return header + options + payload


def icmp(type_: int, code: int, rest: int, body: bytes = b"") -> bytes:
    return struct.pack("!BBHI", type_, code, 0, rest) + body


def echo(type_: int, identifier: int, sequence: int, payload: bytes = b"") -> bytes:
    return icmp(type_, 0, identifier << 16 | sequence, payload)


# MARK: IP packets


def ipv4(protocol: int, source: bytes, destination: bytes, transport: bytes, *, tos: int = 0, flags_fragment: int = 0,
         ttl: int = 64, options: bytes = b"", total_length: int | None = None, identification: int = 0x1C46) -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    length = ihl * 4 + len(transport) if total_length is None else total_length
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, length, identification, flags_fragment, ttl, protocol, 0,
                         source, destination) + options
    return header + transport


def ipv6(next_header: int, source: bytes, destination: bytes, payload: bytes, *, traffic_class: int = 0,
         hop_limit: int = 64, payload_length: int | None = None) -> bytes:
    length = len(payload) if payload_length is None else payload_length
    first = 6 << 28 | traffic_class << 20 | 0x12345
    return struct.pack("!IHBB16s16s", first, length, next_header, hop_limit, source, destination) + payload


def extension(next_header: int, length_units: int = 0, fill: int = 0) -> bytes:
    """A hop-by-hop, routing or destination options header: (Hdr Ext Len + 1) * 8 bytes."""
    body = bytes([fill]) * ((length_units + 1) * 8 - 2)
    return bytes([next_header, length_units]) + body


def authentication_header(next_header: int) -> bytes:
    """RFC 4302: Payload Len 4 means (4 + 2) * 4 = 24 bytes (12-byte ICV)."""
    return bytes([next_header, 4, 0, 0]) + struct.pack("!II", 0x100, 1) + bytes(12)


def finish(packet: bytes) -> bytes:
    """Fills in the IPv4 header checksum and the transport checksum, as a sender would."""
    packet = bytearray(packet)
    version = packet[0] >> 4
    if version == 4:
        header_length = (packet[0] & 0x0F) * 4
        packet[10:12] = b"\0\0"
        packet[10:12] = struct.pack("!H", checksum(bytes(packet[:header_length])))
        protocol, offset = packet[9], header_length
        pseudo_addresses = bytes(packet[12:20])
    else:
        protocol, offset = packet[6], 40
        while protocol in (0, 43, 60, 51):
            length = (packet[offset + 1] + 1) * 8 if protocol != 51 else (packet[offset + 1] + 2) * 4
            protocol, offset = packet[offset], offset + length
        pseudo_addresses = bytes(packet[8:40])
    segment_length = len(packet) - offset
    field = {6: 16, 17: 6, 1: 2, 58: 2}.get(protocol)
    if field is None or (protocol == 1 and version != 4) or (protocol == 58 and version != 6):
        return bytes(packet)
    if protocol == 1:
        pseudo = 0
    else:
        pseudo = ones_complement_sum(pseudo_addresses) + protocol + segment_length
    packet[offset + field:offset + field + 2] = b"\0\0"
    value = checksum(bytes(packet[offset:]), pseudo)
    if protocol == 17 and value == 0:
        value = 0xFFFF
    packet[offset + field:offset + field + 2] = struct.pack("!H", value)
    return bytes(packet)


def finish_if_possible(packet: bytes) -> bytes:
    """Checksums for a malformed packet, as far as its structure can be read."""
    try:
        return finish(packet)
    except (IndexError, struct.error):
        return packet


# MARK: The ip-packet corpus

DNS_QUERY = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")
TCP_SYN_OPTIONS = bytes.fromhex(
    "020405b4"  # MSS 1460
    "0402"  # SACK permitted
    "080a0001e2400000000001"  # timestamps, then NOP
    "030307"  # window scale 7
)
TCP_MAX_OPTIONS = TCP_SYN_OPTIONS + bytes.fromhex("0101" "0512" + "00000001" "00000002" "00000003" "00000004")  # 2 SACK blocks: 40
SCRIPT_NAT = bytes([
    4, 192, 0, 2, 7, 0x9C, 0x40,  # translateSource(to: 192.0.2.7, port: 40000)
    5, 10, 0, 0, 1, 0, 53,  # translateDestination(to: 10.0.0.1, port: 53)
    6, 3,  # setECN(.ce)
    8,  # swap addresses
])
SCRIPT_V6 = bytes([0]) + v6("2001:db8::1") + bytes([2, 0xFF, 0xFE, 7, 3, 11, 5, 0xFF, 0xFF, 12, 0, 0, 0])


def ip_packet_corpus() -> dict[str, bytes]:
    udp4 = ipv4(17, CLIENT4, SERVER4, udp(53000, 53, DNS_QUERY))
    tcp4 = ipv4(6, CLIENT4, SERVER4, tcp(40000, 443, 0x02, TCP_SYN_OPTIONS))
    echo4 = ipv4(1, CLIENT4, SERVER4, echo(8, 0x1234, 1, b"abcdefgh"))
    udp6 = ipv6(17, CLIENT6, SERVER6, udp(53000, 53, DNS_QUERY))
    tcp6 = ipv6(6, CLIENT6, SERVER6, tcp(40000, 443, 0x02, TCP_SYN_OPTIONS))
    echo6 = ipv6(58, CLIENT6, SERVER6, echo(128, 0x1234, 1, b"abcdefgh"))
    hop_by_hop_tcp6 = ipv6(0, CLIENT6, SERVER6, extension(6) + tcp(40000, 443, 0x10, payload=b"GET /"))

    corpus = {
        # IPv4
        "ipv4-udp-dns-query": udp4,
        "ipv4-udp-empty-payload": ipv4(17, CLIENT4, SERVER4, udp(1, 2, b"")),
        "ipv4-udp-odd-payload": ipv4(17, CLIENT4, SERVER4, udp(5353, 5353, b"abc")),
        "ipv4-udp-max-length": ipv4(17, CLIENT4, SERVER4, udp(51820, 51820, bytes(range(256)) * 4 + bytes(1252 - 1024))),
        "ipv4-tcp-syn-options": tcp4,
        "ipv4-tcp-ack-payload": ipv4(6, CLIENT4, SERVER4, tcp(40000, 80, 0x18, payload=b"GET / HTTP/1.1\r\n\r\n",
                                                               acknowledgment=7)),
        "ipv4-tcp-max-options": ipv4(6, CLIENT4, SERVER4, tcp(40000, 443, 0x10, TCP_MAX_OPTIONS, b"x")),
        "ipv4-options-router-alert-udp": ipv4(17, CLIENT4, SERVER4, udp(1000, 2000, b"hi"), options=bytes.fromhex("94040000")),
        "ipv4-dont-fragment-tcp": ipv4(6, CLIENT4, SERVER4, tcp(1, 2, 0x11), flags_fragment=0x4000),
        "ipv4-ecn-ect0-udp": ipv4(17, CLIENT4, SERVER4, udp(4, 5, b"ecn"), tos=0xB8 | 0b10),
        "ipv4-ecn-ce-tcp": ipv4(6, CLIENT4, SERVER4, tcp(4, 5, 0x10), tos=0b11),
        "ipv4-icmp-echo-request": echo4,
        "ipv4-icmp-echo-reply": ipv4(1, SERVER4, CLIENT4, echo(0, 0x1234, 1, b"abcdefgh")),
        "ipv4-icmp-echo-reply-all-zero": ipv4(1, SERVER4, CLIENT4, echo(0, 0, 0)),
        "ipv4-icmp-unreachable-quoting-udp": ipv4(1, SERVER4, CLIENT4, icmp(3, 13, 0, udp4[:28])),
        "ipv4-icmp-time-exceeded-quoting-tcp": ipv4(1, SERVER4, CLIENT4, icmp(11, 0, 0, tcp4[:28])),
        "ipv4-icmp-unreachable-quoting-echo": ipv4(1, SERVER4, CLIENT4, icmp(3, 1, 0, echo4)),
        "ipv4-icmp-unreachable-quoting-options": ipv4(1, SERVER4, CLIENT4, icmp(3, 0, 0, ipv4(
            6, CLIENT4, SERVER4, tcp(1, 2, 0x02), options=bytes.fromhex("01010100"))[:32])),
        "ipv4-icmp-timestamp": ipv4(1, CLIENT4, SERVER4, icmp(13, 0, 0x00010001, bytes(12))),
        "ipv4-gre": ipv4(47, CLIENT4, SERVER4, bytes.fromhex("00000800") + bytes(20)),
        "ipv4-no-transport-bytes": ipv4(99, CLIENT4, SERVER4, b""),
        # IPv6
        "ipv6-udp-dns-query": udp6,
        "ipv6-udp-odd-payload": ipv6(17, CLIENT6, SERVER6, udp(5353, 5353, b"abc")),
        "ipv6-tcp-syn-options": tcp6,
        "ipv6-tcp-max-options": ipv6(6, CLIENT6, SERVER6, tcp(40000, 443, 0x10, TCP_MAX_OPTIONS)),
        "ipv6-ecn-ect1-udp": ipv6(17, CLIENT6, SERVER6, udp(4, 5, b"ecn"), traffic_class=0xB8 | 0b01),
        "ipv6-icmpv6-echo-request": echo6,
        "ipv6-icmpv6-echo-reply": ipv6(58, SERVER6, CLIENT6, echo(129, 0x1234, 1, b"abcdefgh")),
        "ipv6-icmpv6-unreachable-quoting-udp": ipv6(58, SERVER6, CLIENT6, icmp(1, 1, 0, udp6)),
        "ipv6-icmpv6-packet-too-big-quoting-tcp": ipv6(58, SERVER6, CLIENT6, icmp(2, 0, 1280, tcp6)),
        "ipv6-icmpv6-time-exceeded-quoting-echo": ipv6(58, SERVER6, CLIENT6, icmp(3, 0, 0, echo6)),
        "ipv6-icmpv6-unreachable-quoting-hop-by-hop-tcp": ipv6(58, SERVER6, CLIENT6, icmp(1, 4, 0, hop_by_hop_tcp6)),
        "ipv6-icmpv6-neighbor-solicitation": ipv6(58, v6("fe80::1"), v6("ff02::1:ff00:2"),
                                                  icmp(135, 0, 0, v6("fe80::2")), hop_limit=255),
        "ipv6-hop-by-hop-tcp": hop_by_hop_tcp6,
        "ipv6-routing-destination-options-udp": ipv6(43, CLIENT6, SERVER6,
                                                     extension(60, 1) + extension(17, 0, 1) + udp(7, 7, b"echo")),
        "ipv6-authentication-header-icmpv6": ipv6(51, CLIENT6, SERVER6, authentication_header(58) + echo(128, 7, 7)),
        "ipv6-eight-extension-headers-udp": ipv6(
            0, CLIENT6, SERVER6, b"".join(extension(60) for _ in range(7)) + extension(17) + udp(1, 2, b"deep")),
        "ipv6-no-next-header": ipv6(59, CLIENT6, SERVER6, b""),
        # Firezone peer-to-peer control packets: IPv6 :: -> ::, next header 0xFF, hop limit 0, 8-byte header.
        "fz-p2p-control-goodbye": ipv6(0xFF, bytes(16), bytes(16), bytes([2]) + bytes(7), hop_limit=0),
        "fz-p2p-control-assigned-ips": ipv6(0xFF, bytes(16), bytes(16), bytes([0]) + bytes(7) + (
            b'{"resource":"d0a7c1d2-0000-4000-8000-000000000001","domain":"example.com",'
            b'"proxy_ips":["100.96.0.1","fd00:2021:1111:8000::1"]}'), hop_limit=0),
        "fz-p2p-control-domain-status": ipv6(0xFF, bytes(16), bytes(16), bytes([1]) + bytes(7) + b'{"status":"active"}',
                                             hop_limit=0),
        "ipv6-protocol-255-not-control": ipv6(0xFF, CLIENT6, SERVER6, b"\x02\x00"),
        # With rewrite scripts
    }
    corpus = {name: finish(packet) for name, packet in corpus.items()}
    corpus_packet_255 = corpus["ipv6-protocol-255-not-control"]
    corpus.update({
        "ipv4-tcp-with-nat-script": finish(tcp4) + SCRIPT_NAT,
        "ipv4-udp-with-nat-script": finish(udp4) + SCRIPT_NAT,
        "ipv6-udp-with-script": finish(udp6) + SCRIPT_V6,
        "ipv6-echo-with-script": finish(echo6) + SCRIPT_V6,
        # Regressions found by this fuzzer. A short protocol-0xFF packet whose addresses both become :: (opcodes 9
        # and 10, selector 0) is a control packet without its header: fzP2PControl trapped.
        "regression-protocol-255-rewritten-to-control": finish(corpus_packet_255) + bytes([9, 0, 10, 0]),
        # An ICMPv4 echo reply of all zeros but the identifier, rewritten to identifier 0 (opcode 2): the
        # incremental update gave checksum 0x0000, a full computation 0xFFFF.
        "regression-icmpv4-all-zero-identifier-rewrite": finish(ipv4(1, SERVER4, CLIENT4, echo(0, 0, 0)))
        + bytes([2, 0x12, 0x34, 2, 0, 0]),
        # No UDP checksum: allowed in IPv4 (RFC 768), not in IPv6 (RFC 8200 §8.1).
        "ipv4-udp-zero-checksum": finish(udp4)[:26] + b"\0\0" + finish(udp4)[28:],
        "ipv6-udp-zero-checksum": udp6,
    })
    bad_checksum = bytearray(finish(tcp4))
    bad_checksum[-1] ^= 0xFF
    corpus["ipv4-tcp-bad-checksum"] = bytes(bad_checksum)

    malformed = {
        "malformed-empty": b"",
        "malformed-version-5": bytes([0x50]) + udp4[1:],
        "malformed-ipv4-truncated-header": udp4[:10],
        "malformed-ipv4-ihl-4": bytes([0x44]) + udp4[1:],
        "malformed-ipv4-ihl-beyond-packet": bytes([0x46]) + ipv4(99, CLIENT4, SERVER4, b"")[1:],
        "malformed-ipv4-total-length-mismatch": ipv4(17, CLIENT4, SERVER4, udp(1, 2, b"x"), total_length=100),
        "malformed-ipv4-more-fragments": ipv4(17, CLIENT4, SERVER4, udp(1, 2, b"x"), flags_fragment=0x2000),
        "malformed-ipv4-fragment-offset": ipv4(17, CLIENT4, SERVER4, udp(1, 2, b"x"), flags_fragment=0x0010),
        "malformed-ipv4-udp-length-mismatch": ipv4(17, CLIENT4, SERVER4, udp(1, 2, b"xyz", length=9)),
        "malformed-ipv4-udp-truncated": ipv4(17, CLIENT4, SERVER4, b"\x00\x01\x00\x02"),
        "malformed-ipv4-tcp-data-offset-beyond": ipv4(6, CLIENT4, SERVER4, tcp(1, 2, 0x02, data_offset=15)),
        "malformed-ipv4-tcp-data-offset-4": ipv4(6, CLIENT4, SERVER4, tcp(1, 2, 0x02, data_offset=4)),
        "malformed-ipv4-tcp-truncated": ipv4(6, CLIENT4, SERVER4, tcp(1, 2, 0x02)[:12]),
        "malformed-ipv4-icmp-truncated": ipv4(1, CLIENT4, SERVER4, b"\x08\x00\x00\x00"),
        "malformed-ipv4-carrying-icmpv6": ipv4(58, CLIENT4, SERVER4, echo(128, 1, 1)),
        "ipv4-icmp-error-malformed-quote-ipv6": ipv4(1, SERVER4, CLIENT4, icmp(3, 3, 0, udp6[:48])),
        "ipv4-icmp-error-malformed-quote-short": ipv4(1, SERVER4, CLIENT4, icmp(3, 3, 0, udp4[:12])),
        "ipv4-icmp-error-malformed-quote-empty": ipv4(1, SERVER4, CLIENT4, icmp(11, 0, 0)),
        "malformed-ipv6-truncated-header": udp6[:39],
        "malformed-ipv6-payload-length-mismatch": ipv6(17, CLIENT6, SERVER6, udp(1, 2, b"x"), payload_length=200),
        "malformed-ipv6-fragment-header": ipv6(44, CLIENT6, SERVER6, bytes([17, 0, 0, 1, 0, 0, 0, 1]) + udp(1, 2, b"x")),
        "malformed-ipv6-nine-extension-headers": ipv6(
            0, CLIENT6, SERVER6, b"".join(extension(60) for _ in range(8)) + extension(17) + udp(1, 2, b"deep")),
        "malformed-ipv6-truncated-extension-header": ipv6(0, CLIENT6, SERVER6, extension(17, 3)[:16]),
        "malformed-ipv6-extension-header-one-byte": ipv6(60, CLIENT6, SERVER6, b"\x11"),
        "malformed-ipv6-carrying-icmp": ipv6(1, CLIENT6, SERVER6, echo(8, 1, 1)),
        "ipv6-icmpv6-error-malformed-quote-ipv4": ipv6(58, SERVER6, CLIENT6, icmp(1, 1, 0, udp4)),
        "malformed-fz-p2p-control-truncated": ipv6(0xFF, bytes(16), bytes(16), bytes([2, 0, 0, 0]), hop_limit=0),
        "malformed-too-long": ipv4(17, CLIENT4, SERVER4, udp(1, 2, bytes(1281 - 28))),
    }
    corpus.update({name: finish_if_possible(packet) for name, packet in malformed.items()})
    return corpus


# MARK: STUN (RFC 8489) and TURN (RFC 8656), for `stun` and `relay-server`

MAGIC_COOKIE = 0x2112A442
BINDING, ALLOCATE, REFRESH, CREATE_PERMISSION, CHANNEL_BIND = 0x001, 0x003, 0x004, 0x008, 0x009
REQUEST, INDICATION, SUCCESS, ERROR = 0b00, 0b01, 0b10, 0b11


def message_type(method: int, class_: int) -> int:
    # RFC 8489 §5: the class bits sit at 0x0010 and 0x0100, between the method's bits.
    return ((method & 0xF80) << 2) | ((method & 0x070) << 1) | (method & 0x00F) | ((class_ & 2) << 7) | ((class_ & 1) << 4)


def attribute(type_: int, value: bytes) -> bytes:
    return struct.pack("!HH", type_, len(value)) + value + bytes(-len(value) % 4)


def xor_address(type_: int, address: bytes, port: int, transaction: bytes) -> bytes:
    cookie = struct.pack("!I", MAGIC_COOKIE)
    key = cookie + transaction
    family = 1 if len(address) == 4 else 2
    xored = bytes(a ^ b for a, b in zip(address, key))
    return attribute(type_, struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + xored)


def stun(method: int, class_: int, transaction: bytes, attributes: bytes, key: bytes | None = None,
         fingerprint: bool = False) -> bytes:
    import hashlib
    import hmac
    import zlib

    def header(length: int) -> bytes:
        return struct.pack("!HHI", message_type(method, class_), length, MAGIC_COOKIE) + transaction

    body = attributes
    if key is not None:
        mac = hmac.new(key, header(len(body) + 24) + body, hashlib.sha1).digest()
        body += attribute(0x0008, mac)
    if fingerprint:
        crc = zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E
        body += attribute(0x8028, struct.pack("!I", crc))
    return header(len(body)) + body


def channel_data(channel: int, payload: bytes, padding: int = 0) -> bytes:
    return struct.pack("!HH", channel, len(payload)) + payload + bytes(padding)


def long_term_key(username: str, realm: str, password: str) -> bytes:
    import hashlib

    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


def stun_corpus() -> dict[str, bytes]:
    t = bytes(range(1, 13))
    key = long_term_key("1700000000:fuzz", "firezone", "fuzz")
    transport = attribute(0x0019, bytes([17, 0, 0, 0]))
    return {
        "binding-request": stun(BINDING, REQUEST, t, b""),
        "binding-request-fingerprint": stun(BINDING, REQUEST, t, attribute(0x8022, b"fuzz"), fingerprint=True),
        "binding-success-ipv4": stun(BINDING, SUCCESS, t, xor_address(0x0020, v4("192.0.2.1"), 32853, t)),
        "binding-success-ipv6": stun(BINDING, SUCCESS, t, xor_address(0x0020, v6("2001:db8::1"), 32853, t)),
        "allocate-authenticated": stun(
            ALLOCATE, REQUEST, t,
            transport + attribute(0x0006, b"1700000000:fuzz") + attribute(0x0014, b"firezone")
            + attribute(0x0015, b"nonce") + attribute(0x8000, bytes([2, 0, 0, 0])), key=key, fingerprint=True),
        "allocate-even-port-reserve": stun(ALLOCATE, REQUEST, t, transport + attribute(0x0018, b"\x80")),
        "allocate-reservation-token": stun(ALLOCATE, REQUEST, t, transport + attribute(0x0022, bytes(range(8)))),
        "allocate-requested-family-ipv6": stun(ALLOCATE, REQUEST, t, transport + attribute(0x0017, b"\x02\0\0\0")),
        "allocate-error-401": stun(
            ALLOCATE, ERROR, t, attribute(0x0009, bytes([0, 0, 4, 1]) + b"Unauthorized")
            + attribute(0x0014, b"firezone") + attribute(0x0015, b"nonce")),
        "allocate-success-dual-stack": stun(
            ALLOCATE, SUCCESS, t, xor_address(0x0016, v4("203.0.113.1"), 49152, t)
            + xor_address(0x0016, v6("2001:db8::1"), 49152, t) + attribute(0x000D, struct.pack("!I", 600)), key=key),
        "refresh-lifetime-zero": stun(REFRESH, REQUEST, t, attribute(0x000D, bytes(4))),
        "channel-bind-ipv4": stun(
            CHANNEL_BIND, REQUEST, t, attribute(0x000C, b"\x40\0\0\0") + xor_address(0x0012, v4("192.0.2.10"), 5000, t)),
        "channel-bind-ipv6": stun(
            CHANNEL_BIND, REQUEST, t,
            attribute(0x000C, b"\x7f\xff\0\0") + xor_address(0x0012, v6("2001:db8:2::10"), 5000, t)),
        "create-permission": stun(CREATE_PERMISSION, REQUEST, t, xor_address(0x0012, v4("192.0.2.10"), 0, t)),
        "unknown-comprehension-required": stun(BINDING, REQUEST, t, attribute(0x7777, b"\1\2\3\4")),
        "unknown-attributes-odd-count": stun(BINDING, ERROR, t, attribute(0x000A, b"\x77\x77\x00\x24\x80\x22")),
        "send-indication": stun(0x006, INDICATION, t, xor_address(0x0012, v4("192.0.2.10"), 5000, t)
                                + attribute(0x0013, b"data")),
        "malformed-truncated-attribute": stun(BINDING, REQUEST, t, b"")[:20] + struct.pack("!HH", 0x0006, 40),
        "malformed-bad-fingerprint": stun(BINDING, REQUEST, t, b"", fingerprint=True)[:-1] + b"\0",
        "channel-data": channel_data(0x4000, b"hello"),
        "channel-data-padded": channel_data(0x4001, b"odd", padding=1),
        "channel-data-empty": channel_data(0x7FFF, b""),
        "channel-data-truncated": channel_data(0x4000, b"hello")[:-2],
        "channel-data-reserved-number": channel_data(0x8000, b"x"),
    }


def record(op: int, data: bytes) -> bytes:
    return struct.pack("!BH", op, len(data)) + data


def relay_server_corpus() -> dict[str, bytes]:
    """Sequences as `Sources/RelayServerFuzzer` reads them: op 0x08 sends a request re-encoded with valid
    credentials (the first one gets the nonce), 0x04 is a datagram from a peer, 0x0N with N < 4 a plain datagram
    from client N, and the high nibble advances the clock by 37 s steps."""
    t = bytes(range(1, 13))
    allocate = stun(ALLOCATE, REQUEST, t, attribute(0x0019, bytes([17, 0, 0, 0])))
    allocate6 = stun(ALLOCATE, REQUEST, t, attribute(0x0019, bytes([17, 0, 0, 0])) + attribute(0x0017, b"\x02\0\0\0"))
    bind4 = stun(CHANNEL_BIND, REQUEST, t,
                 attribute(0x000C, b"\x40\0\0\0") + xor_address(0x0012, v4("192.0.2.10"), 5000, t))
    bind6 = stun(CHANNEL_BIND, REQUEST, t,
                 attribute(0x000C, b"\x40\x01\0\0") + xor_address(0x0012, v6("2001:db8:2::10"), 5000, t))
    refresh0 = stun(REFRESH, REQUEST, t, attribute(0x000D, bytes(4)))
    bound = record(0x08, allocate) + record(0x08, allocate) + record(0x08, bind4)
    return {
        "allocate-bind-relay-both-ways": bound + record(0x00, channel_data(0x4000, b"to peer"))
        + record(0x04, bytes([0, 0]) + b"to client"),
        "allocate-ipv6-bind-relay": record(0x0A, allocate6) + record(0x0A, allocate6) + record(0x0A, bind6)
        + record(0x02, channel_data(0x4001, b"six")) + record(0x04, bytes([0, 2]) + b"back"),
        "allocate-expire": bound + record(0xF4, b"\0\0late") + record(0xF0, channel_data(0x4000, b"late")),
        "allocate-replaced-by-same-username": bound + record(0x0A, allocate) + record(0x0A, allocate)
        + record(0x00, channel_data(0x4000, b"stale")),
        "allocate-refresh-zero": bound + record(0x08, refresh0) + record(0x04, bytes([0, 0]) + b"gone"),
        "unauthenticated-requests": record(0x00, allocate) + record(0x01, bind4) + record(0x02, refresh0)
        + record(0x03, stun(BINDING, REQUEST, t, b"")),
        "garbage": record(0x00, b"\x00\x01\x00\x00garbage") + record(0x01, b"\xff" * 30) + record(0x04, b""),
    }


def snownet_corpus() -> dict[str, bytes]:
    """Sequences as `Sources/SnownetFuzzer` reads them: op 0 a datagram from the relay, 1 from the peer's host
    socket, 3 a remote candidate; 0x04 signs STUN with the key the node checks; the high bits advance the clock."""
    t = bytes(range(1, 13))
    binding_request = stun(BINDING, REQUEST, t, attribute(0x0006, b"local:remote") + attribute(0x0024, struct.pack("!I", 1853817087))
                           + attribute(0x802A, bytes(8)) + attribute(0x0025, b""))
    binding_success = stun(BINDING, SUCCESS, t, xor_address(0x0020, v4("198.51.100.10"), 52625, t))
    relay_401 = stun(BINDING, ERROR, t, attribute(0x0009, bytes([0, 0, 4, 1]) + b"Unauthorized")
                     + attribute(0x0014, b"firezone") + attribute(0x0015, b"nonce"))
    allocate_success = stun(ALLOCATE, SUCCESS, t, xor_address(0x0016, v4("203.0.113.1"), 49152, t)
                            + xor_address(0x0020, v4("198.51.100.1"), 40000, t) + attribute(0x000D, struct.pack("!I", 600)))
    host = b"candidate:1 1 udp 2130706431 192.0.2.10 52625 typ host"
    srflx = b"candidate:fffeff6435be70ddbf995982 1 udp 1694498559 87.121.72.60 57114 typ srflx raddr 0.0.0.0 rport 0"
    relay = b"candidate:2 1 udp 37748479 203.0.113.2 50000 typ relay raddr 0.0.0.0 rport 0"
    return {
        "candidates-then-checks": record(0x03, host) + record(0x03, srflx) + record(0x03, relay)
        + record(0x05, binding_request) + record(0x0D, binding_success),
        "relay-answers": record(0x00, binding_success) + record(0x04, relay_401) + record(0x04, allocate_success)
        + record(0x00, channel_data(0x4000, b"data")),
        "wireguard-garbage": record(0x01, bytes([1, 0, 0, 0]) + bytes(144)) + record(0x01, bytes([4, 0, 0, 0]) + bytes(28)),
        "stranger": record(0x02, b"\x00\x01" + binding_request) + record(0xFB, b"late"),
    }


# MARK: dns-message (RFC 1035 §4.1)


def dns_name(text: str) -> bytes:
    out = b""
    for label in text.split(".") if text else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_message(ident: int, flags: int, questions: list[bytes], answers: list[bytes] = (),
                additional: list[bytes] = ()) -> bytes:
    header = struct.pack("!6H", ident, flags, len(questions), len(answers), 0, len(additional))
    return header + b"".join(questions) + b"".join(answers) + b"".join(additional)


def dns_question(name: str, type_: int) -> bytes:
    return dns_name(name) + struct.pack("!HH", type_, 1)


def dns_record(owner: bytes, type_: int, ttl: int, data: bytes) -> bytes:
    return owner + struct.pack("!HHIH", type_, 1, ttl, len(data)) + data


OPT = b"\0" + struct.pack("!HHIH", 41, 4096, 0, 0)


def dns_message_corpus() -> dict[str, bytes]:
    corpus = {}
    queries = [("app.corp", 1), ("app.corp", 28), ("x.corp", 65), ("_ldap._tcp.corp", 33), ("a.b.example", 16),
               ("example.com", 1), ("use-application-dns.net", 1), ("1.0.96.100.in-addr.arpa", 12)]
    for name, type_ in queries:
        corpus[f"query-{name}-{type_}"] = dns_message(0x1234, 0x0100, [dns_question(name, type_)])
    corpus["query-edns"] = dns_message(7, 0x0100, [dns_question("App.Corp", 1)], additional=[OPT])
    pointer = b"\xc0\x0c"
    corpus["response-a-aaaa"] = dns_message(0x1234, 0x8180, [dns_question("app.corp", 1)], [
        dns_record(pointer, 1, 1, bytes([100, 96, 0, 1])),
        dns_record(pointer, 28, 1, bytes(16)),
    ])
    cname = b"\x03www" + b"\xc0\x10"
    corpus["response-cname-chain"] = dns_message(2, 0x8180, [dns_question("www.corp", 1)], [
        dns_record(pointer, 5, 60, cname),
        dns_record(b"\xc0\x26", 1, 30, bytes([10, 0, 0, 7])),
    ])
    corpus["response-nxdomain"] = dns_message(3, 0x8183, [dns_question("nope.corp", 1)])
    query = dns_message(9, 0x0100, [dns_question("app.corp", 1)])
    corpus["tcp-two-queries"] = struct.pack("!H", len(query)) + query + struct.pack("!H", len(query)) + query
    corpus["pattern-and-name"] = b"**.corp A.B.Corp"
    return corpus



# MARK: dns-tcp-server (see Sources/DNSTCPServerFuzzer)

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def tcp_record(endpoint: int, flags: int, payload: bytes = b"", seq: int = 0, ack: int = 0, window: int = 65535,
               mss: int = 0) -> bytes:
    return struct.pack("!BHBhhHHB", 0, endpoint, flags, seq, ack, window, mss, len(payload)) + payload


def wait(milliseconds: int) -> bytes:
    return struct.pack("!BH", 1, milliseconds)


def answer(length: int, abort: bool = False) -> bytes:
    return struct.pack("!BH", 2, length | (0x8000 if abort else 0))


def dns_tcp_server_corpus() -> dict[str, bytes]:
    query = dns_message(9, 0x0100, [dns_question("app.corp", 1)])
    framed = struct.pack("!H", len(query)) + query

    def connect(endpoint: int, mss: int = 0) -> bytes:
        return tcp_record(endpoint, SYN, mss=mss) + tcp_record(endpoint, ACK)

    corpus = {
        "query-answer-close": connect(0, 1460) + tcp_record(0, ACK | PSH, framed) + answer(2000) + wait(10)
        + tcp_record(0, ACK) + tcp_record(0, FIN | ACK) + tcp_record(0, ACK),
        "pipelined-v6": connect(0x100) + tcp_record(0x100, ACK | PSH, framed + framed + framed[:7])
        + tcp_record(0x100, ACK | PSH, framed[7:]) + answer(100) + answer(3000) + answer(40),
        "lost-answer-retransmitted": connect(1, 536) + tcp_record(1, ACK | PSH, framed) + answer(1500)
        + wait(1000) + wait(2000) + tcp_record(1, ACK),
        "idle-close": connect(2) + wait(10000) + tcp_record(2, FIN | ACK) + wait(2000),
        "out-of-order": connect(3) + tcp_record(3, ACK | PSH, framed[5:], seq=5) + tcp_record(3, ACK | PSH, framed),
        "closed-port-and-strays": tcp_record(0x200, SYN) + tcp_record(4, ACK, seq=100) + tcp_record(4, RST),
        "malformed-frames": connect(5) + tcp_record(5, ACK | PSH, b"\0\0") + connect(6)
        + tcp_record(6, ACK | PSH, b"\xff\xff") + connect(7) + tcp_record(7, ACK | PSH, framed) + answer(0, True),
        "zero-window": connect(8) + tcp_record(8, ACK | PSH, framed, window=0) + answer(700) + wait(1000)
        + tcp_record(8, ACK, window=4000),
        "table-full": b"".join(connect(index) for index in range(70)) + wait(30000),
    }
    return corpus


CORPORA = {
    "ip-packet": ip_packet_corpus,
    "stun": stun_corpus,
    "relay-server": relay_server_corpus,
    "snownet": snownet_corpus,
    "dns-message": dns_message_corpus,
    "dns-tcp-server": dns_tcp_server_corpus,
}


def main() -> None:
    # `make-corpus.py TARGET...` regenerates only those targets' corpora.
    chosen = sys.argv[1:] or list(CORPORA)
    for target, make in CORPORA.items():
        if target not in chosen:
            continue
        directory = os.path.join(HERE, "corpus", target)
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))
        corpus = make()
        for name, data in sorted(corpus.items()):
            with open(os.path.join(directory, name), "wb") as file:
                file.write(data)
        print(f"{target}: {len(corpus)} files in {os.path.relpath(directory)}", file=sys.stderr)


if __name__ == "__main__":
    main()
