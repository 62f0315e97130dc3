#!/usr/bin/env python3
"""Two TURN clients on two hosts (network namespaces) relaying through one relay; an independent TURN client.

A client of our own in Python (standard library only), written from RFC 8489/8656 rather than from our Swift
codec, so that a mistake shared by our relay and our codec cannot hide. One process drives both hosts: each
socket is created inside its host's network namespace (setns(2) on this thread, then back), so the scenario
runs in lockstep without any coordination between processes.

Scenarios, each in one family combination (client transport, relayed family):
  translate  each client binds a channel to a plain UDP socket on the other host; each sends channel data to
             it (arriving as UDP from the sender's relayed address) and receives UDP sent to its relayed
             address (arriving as channel data).
  loopback   each client binds a channel to the other's relayed address on the same relay (Firezone #10286); each
             sends channel data that arrives at the other client as channel data. Then A releases its
             allocation, and what B sends afterwards must not arrive: the relay unbound A's channel in XDP too.

Every message is checked: count, order-independent identity, payload bytes, source address, channel number; a
response counts only from the address the request went to.
Prints "ok - ..." / "not ok - ..." lines and exits non-zero if any check failed.
"""
import argparse
import base64
import ctypes
import hashlib
import hmac
import os
import secrets
import socket
import struct
import time

MAGIC_COOKIE = 0x2112A442
ALLOCATE, REFRESH, CHANNEL_BIND = 0x003, 0x004, 0x009
SUCCESS, ERROR = 0x100, 0x110
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE = 0x0006, 0x0008, 0x0009
CHANNEL_NUMBER, LIFETIME, XOR_PEER_ADDRESS, REALM, NONCE = 0x000C, 0x000D, 0x0012, 0x0014, 0x0015
XOR_RELAYED_ADDRESS, REQUESTED_ADDRESS_FAMILY, REQUESTED_TRANSPORT = 0x0016, 0x0017, 0x0019
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
failures = 0


def report(ok, description):
    global failures
    if not ok:
        failures += 1
    print(("ok - " if ok else "not ok - ") + description, flush=True)


def udp_socket(namespace, family, address):
    """A UDP socket bound to (address, any port) inside `namespace`."""
    target = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((address, 0))
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(target)
        os.close(home)
    return sock


def credentials(secret, salt):
    """Firezone's relay credentials (rust/relay/server/src/auth.rs)."""
    expiry = int(time.time()) + 3600
    digest = hashlib.sha256(f"{expiry}:{secret}:{salt}".encode()).digest()
    return f"{expiry}:{salt}", base64.b64encode(digest).decode().rstrip("=")


def attribute(kind, value):
    padding = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * padding


def xor_address(host, port, transaction):
    packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    mask = struct.pack("!I", MAGIC_COOKIE) + transaction
    family = 0x02 if len(packed) == 16 else 0x01
    xored = bytes(a ^ b for a, b in zip(packed, mask))
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + xored


def parse_xor_address(value, transaction):
    family, port = value[1], struct.unpack("!H", value[2:4])[0] ^ (MAGIC_COOKIE >> 16)
    mask = struct.pack("!I", MAGIC_COOKIE) + transaction
    raw = bytes(a ^ b for a, b in zip(value[4:], mask))
    return socket.inet_ntop(socket.AF_INET6 if family == 0x02 else socket.AF_INET, raw), port


def decode(message):
    kind, length = struct.unpack("!HH", message[:4])
    attributes, offset = {}, 20
    while offset + 4 <= 20 + length:
        code, size = struct.unpack("!HH", message[offset:offset + 4])
        attributes.setdefault(code, []).append(message[offset + 4:offset + 4 + size])
        offset += 4 + size + (4 - size % 4) % 4
    return kind, message[8:20], attributes


class TURNClient:
    def __init__(self, sock, relay, username, password):
        self.sock, self.relay = sock, relay
        self.username, self.password = username, password
        self.key, self.realm, self.nonce = None, None, None

    def transact(self, method, build):
        """A request and its success response; `build(transaction)` gives the attributes (XOR-addresses need the
        transaction ID). The first 401 (or a 438) supplies realm and nonce, and the request is repeated."""
        for _ in range(5):
            transaction = secrets.token_bytes(12)
            body = b"".join(build(transaction))
            if self.key:
                body += b"".join([attribute(USERNAME, self.username.encode()), attribute(REALM, self.realm),
                                  attribute(NONCE, self.nonce)])
                # RFC 8489 §14.5: the HMAC covers the header with a length that already counts MESSAGE-INTEGRITY.
                header = struct.pack("!HHI", method, len(body) + 24, MAGIC_COOKIE) + transaction
                body += attribute(MESSAGE_INTEGRITY, hmac.new(self.key, header + body, hashlib.sha1).digest())
            self.sock.sendto(struct.pack("!HHI", method, len(body), MAGIC_COOKIE) + transaction + body, self.relay)
            self.sock.settimeout(1.0)
            try:
                while True:
                    data, source = self.sock.recvfrom(2048)
                    # As a client with a connected socket: an answer from another address is not the relay's.
                    if len(data) >= 20 and data[8:20] == transaction and normalise(source[:2]) == normalise(self.relay):
                        break
            except socket.timeout:
                continue
            kind, _, attrs = decode(data)
            if kind == method | ERROR and ERROR_CODE in attrs:
                code = attrs[ERROR_CODE][0][2] * 100 + attrs[ERROR_CODE][0][3]
                if code in (401, 438) and NONCE in attrs:
                    self.realm, self.nonce = attrs[REALM][0], attrs[NONCE][0]
                    self.key = hashlib.md5(f"{self.username}:{self.realm.decode()}:{self.password}".encode()).digest()
                    continue
                raise RuntimeError(f"method {method:#x} failed with {code}")
            if kind == method | SUCCESS:
                return transaction, attrs
        raise RuntimeError(f"no answer to method {method:#x}")

    def allocate(self, relayed_family):
        attributes = [attribute(REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]
        if relayed_family == 6:
            attributes.append(attribute(REQUESTED_ADDRESS_FAMILY, bytes([0x02, 0, 0, 0])))
        transaction, attrs = self.transact(ALLOCATE, lambda _: attributes)
        self.relayed = parse_xor_address(attrs[XOR_RELAYED_ADDRESS][0], transaction)
        return self.relayed

    def release(self):
        """RFC 8656 §7: a REFRESH with a lifetime of zero deletes the allocation and its channels."""
        self.transact(REFRESH, lambda _: [attribute(LIFETIME, struct.pack("!I", 0))])

    def bind(self, channel, peer):
        self.transact(CHANNEL_BIND, lambda transaction: [
            attribute(CHANNEL_NUMBER, struct.pack("!HH", channel, 0)),
            attribute(XOR_PEER_ADDRESS, xor_address(peer[0], peer[1], transaction)),
        ])


def payloads(tag, count, size):
    return [struct.pack("!4sI", tag, index) + secrets.token_bytes(size - 8) for index in range(count)]


def receive(sock, count, deadline_seconds=5.0):
    """Up to `count` datagrams with their sources, within the deadline."""
    received, deadline = [], time.monotonic() + deadline_seconds
    while len(received) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            received.append(sock.recvfrom(65535))
        except socket.timeout:
            break
    return received


def send_paced(sock, messages, destination):
    for index, message in enumerate(messages):
        sock.sendto(message, destination)
        if index % 32 == 31:
            time.sleep(0.002)


def channel_data(channel, payload):
    return struct.pack("!HH", channel, len(payload)) + payload


def normalise(address):
    return socket.inet_ntop(socket.AF_INET6 if ":" in address[0] else socket.AF_INET,
                            socket.inet_pton(socket.AF_INET6 if ":" in address[0] else socket.AF_INET,
                                             address[0])), address[1]


def check_udp(label, sock, sent, expected_source):
    got = receive(sock, len(sent))
    sources = {normalise(source[:2]) for _, source in got}
    report(sorted(data for data, _ in got) == sorted(sent) and sources == {normalise(expected_source)},
           f"{label}: {len(got)}/{len(sent)} datagrams intact from {expected_source[0]}:{expected_source[1]}")


def check_channel(label, sock, sent, channel, relay):
    got = receive(sock, len(sent))
    expected = sorted(channel_data(channel, payload) for payload in sent)
    sources = {normalise(source[:2]) for _, source in got}
    report(sorted(data for data, _ in got) == expected and sources == {normalise(relay)},
           f"{label}: {len(got)}/{len(sent)} channel data messages intact on channel {channel:#x}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["translate", "loopback"])
    parser.add_argument("--transport", type=int, choices=[4, 6], required=True)
    parser.add_argument("--relayed", type=int, choices=[4, 6], required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--relay", nargs=2, metavar=("V4", "V6"), required=True)
    parser.add_argument("--host-a", nargs=3, metavar=("NS", "V4", "V6"), required=True)
    parser.add_argument("--host-b", nargs=3, metavar=("NS", "V4", "V6"), required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()

    family = {4: socket.AF_INET, 6: socket.AF_INET6}
    pick = lambda host, version: host[1] if version == 4 else host[2]
    relay = (args.relay[0] if args.transport == 4 else args.relay[1], 3478)
    hosts = {"A": args.host_a, "B": args.host_b}
    name = f"{args.scenario} over IPv{args.transport}, relayed IPv{args.relayed}"

    clients = {}
    for label, host in hosts.items():
        sock = udp_socket(host[0], family[args.transport], pick(host, args.transport))
        username, password = credentials(args.secret, f"xdp-{label}-{args.transport}{args.relayed}-{os.getpid()}")
        clients[label] = TURNClient(sock, relay, username, password)
        clients[label].allocate(args.relayed)
    channels = {"A": 0x4001, "B": 0x7FFE}
    other = {"A": "B", "B": "A"}

    if args.scenario == "translate":
        peers = {label: udp_socket(host[0], family[args.relayed], pick(host, args.relayed))
                 for label, host in hosts.items()}
        for label, client in clients.items():
            client.bind(channels[label], peers[other[label]].getsockname()[:2])
        for label, client in clients.items():
            # Channel data from the client becomes UDP from its relayed address at the other host's peer socket.
            sent = payloads(f"c2u{label}".encode(), args.count, args.size)
            send_paced(client.sock, [channel_data(channels[label], p) for p in sent], relay)
            check_udp(f"{name}: client {label} to a peer on host {other[label]}", peers[other[label]], sent,
                      client.relayed)
            # UDP to the relayed address becomes channel data at the client.
            sent = payloads(f"u2c{label}".encode(), args.count, args.size)
            send_paced(peers[other[label]], sent, client.relayed)
            check_channel(f"{name}: a peer on host {other[label]} to client {label}", client.sock, sent,
                          channels[label], relay)
    else:
        for label, client in clients.items():
            client.bind(channels[label], clients[other[label]].relayed)
        for label, client in clients.items():
            sent = payloads(f"loo{label}".encode(), args.count, args.size)
            send_paced(client.sock, [channel_data(channels[label], p) for p in sent], relay)
            check_channel(f"{name}: client {label} to client {other[label]} through the relay",
                          clients[other[label]].sock, sent, channels[other[label]], relay)
        clients["A"].release()
        sent = payloads(b"gone", args.count, args.size)
        send_paced(clients["B"].sock, [channel_data(channels["B"], p) for p in sent], relay)
        late = receive(clients["A"].sock, len(sent), deadline_seconds=1.0)
        report(not late, f"{name}: after A released its allocation, none of B's {len(sent)} messages reach A "
                         f"({len(late)} did)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
