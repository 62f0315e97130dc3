#!/usr/bin/env python3
"""Helpers for relay-flood.sh: a flooder of spoofed unauthenticated TURN requests, legitimate clients relaying
during a flood, and a measurement of when an expired channel binding stops relaying.

  flood    From a raw IPv4 socket (IP_HDRINCL), 20-byte ALLOCATE requests without credentials and BINDING requests
           from random source addresses and ports to the relay's listening port. Half the sources lie in a few
           /24s (so the relay's per-prefix reply limit refuses most of their replies), half anywhere in unicast
           IPv4 space (so the limiter's table churns). Sends --count datagrams, or until --until-file disappears.
  clients  Two TURN clients (turn_pair.py's) on hosts A and B: each allocates, binds a channel to a peer socket on
           the other host, and both directions relay; checks what arrives.
  expiry   Client A binds a channel to a peer socket on host B, says so (--ready-file) and waits for the flood
           (--go-file); then it sends channel data every few milliseconds. The relay's monotonic clock (clock_shift.c) is then moved on so that the binding's 600 s lifetime ends --lead
           seconds later; prints when relaying stopped relative to that expiry.
"""
import argparse
import os
import random
import socket
import struct
import time

import turn_pair

ALLOCATE, BINDING = 0x0001 | 0x0002, 0x0001


def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spoofed_datagram(rng, destination, port, source):
    method = ALLOCATE if rng.random() < 0.5 else BINDING
    stun = struct.pack("!HHI", method, 0, turn_pair.MAGIC_COOKIE) + rng.randbytes(12)
    udp = struct.pack("!HHHH", rng.randrange(1024, 65536), port, 8 + len(stun), 0)
    # IPv4 UDP may go without a checksum (RFC 768); the kernel fills in the IP header's (raw(7), IP_HDRINCL).
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(stun), 0, 0, 64, socket.IPPROTO_UDP, 0,
                         source, destination)
    return header + udp + stun


def random_unicast(rng):
    while True:
        first = rng.randrange(1, 224)
        if first not in (10, 127, 100, 169, 172, 192):
            return bytes([first]) + rng.randbytes(3)


def flood(args):
    rng = random.Random(args.seed)
    destination = socket.inet_aton(args.target)
    busy_prefixes = [random_unicast(rng)[:3] for _ in range(args.busy_prefixes)]
    datagrams = []
    for index in range(args.distinct):
        source = (rng.choice(busy_prefixes) + bytes([rng.randrange(1, 255)])) if index % 2 else random_unicast(rng)
        datagrams.append(spoofed_datagram(rng, destination, args.port, source))
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    address = (args.target, 0)
    sent, started = 0, time.monotonic()
    # Each pass resends the same datagrams; the relay sees each source again, as a spoofing sender's victims would.
    chunk = 500
    while (args.count and sent < args.count) or (args.until_file and os.path.exists(args.until_file)):
        for start in range(0, len(datagrams), chunk):
            for datagram in datagrams[start:start + chunk]:
                try:
                    sock.sendto(datagram, address)
                except OSError:
                    continue
            sent += chunk
            if args.rate:
                ahead = started + sent / args.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    elapsed = time.monotonic() - started
    print(f"flood: {sent} datagrams in {elapsed:.2f} s, {sent / elapsed:.0f} per second", flush=True)


def persist(request, attempts=8):
    """A request retried past turn_pair's five tries: under a flood the relay's listening socket drops what
    arrives while it is full, legitimate requests among the rest."""
    for attempt in range(attempts):
        try:
            return request()
        except RuntimeError as error:
            if "no answer" not in str(error) or attempt == attempts - 1:
                raise


def clients(args):
    relay = (args.relay, 3478)
    hosts = {"A": args.host_a, "B": args.host_b}
    sockets = {label: turn_pair.udp_socket(host[0], socket.AF_INET, host[1]) for label, host in hosts.items()}
    peers = {label: turn_pair.udp_socket(host[0], socket.AF_INET, host[1]) for label, host in hosts.items()}
    other = {"A": "B", "B": "A"}
    allocated = {}
    for label in hosts:
        username, password = turn_pair.credentials(args.secret, f"flood-{label}-{os.getpid()}")
        client = turn_pair.TURNClient(sockets[label], relay, username, password)
        try:
            for attempt in range(3):
                try:
                    persist(lambda: client.allocate(4))
                    break
                except RuntimeError as error:
                    # 437: the relay allocated, and its answer was lost on the way back; each try here takes a new
                    # transaction ID, so a new 5-tuple starts over.
                    if "437" not in str(error) or attempt == 2:
                        raise
                    client.sock = turn_pair.udp_socket(hosts[label][0], socket.AF_INET, hosts[label][1])
            persist(lambda: client.bind(0x4001, peers[other[label]].getsockname()[:2]))
            allocated[label] = client
            turn_pair.report(True, f"client {label} allocated {client.relayed[0]}:{client.relayed[1]} and bound a "
                                   f"channel during the flood")
        except RuntimeError as error:
            turn_pair.report(False, f"client {label} allocates and binds a channel during the flood: {error}")
    for label, client in allocated.items():
        sent = turn_pair.payloads(f"c2u{label}".encode(), args.count, 200)
        turn_pair.send_paced(client.sock, [turn_pair.channel_data(0x4001, p) for p in sent], relay)
        got = turn_pair.receive(peers[other[label]], len(sent))
        intact = all(data in sent and source[:2] == client.relayed for data, source in got)
        turn_pair.report(intact and len(got) >= args.count * args.least,
                         f"client {label} to a peer during the flood: {len(got)}/{len(sent)} relayed, intact")
        sent = turn_pair.payloads(f"u2c{label}".encode(), args.count, 200)
        turn_pair.send_paced(peers[other[label]], sent, client.relayed)
        got = turn_pair.receive(client.sock, len(sent))
        framed = [turn_pair.channel_data(0x4001, p) for p in sent]
        intact = all(data in framed for data, _ in got)
        turn_pair.report(intact and len(got) >= args.count * args.least,
                         f"a peer to client {label} during the flood: {len(got)}/{len(sent)} relayed, intact")
    return 1 if turn_pair.failures else 0


class TimedSocket:
    """A socket that remembers when it last sent: the relay starts a binding on the request it answers, which is
    the last one sent before the answer came."""

    def __init__(self, sock):
        self.sock, self.last_sent = sock, 0.0

    def sendto(self, data, address):
        self.last_sent = time.monotonic()
        return self.sock.sendto(data, address)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def expiry(args):
    relay = (args.relay, 3478)
    sock = TimedSocket(turn_pair.udp_socket(args.host_a[0], socket.AF_INET, args.host_a[1]))
    peer = turn_pair.udp_socket(args.host_b[0], socket.AF_INET, args.host_b[1])
    username, password = turn_pair.credentials(args.secret, f"expiry-{os.getpid()}")
    client = turn_pair.TURNClient(sock, relay, username, password)
    persist(lambda: client.allocate(4))
    # The allocation outlives the binding (RFC 8656 §7.3 caps a LIFETIME at an hour), so what ends relaying below
    # is the binding's own expiry, not its allocation's.
    persist(lambda: client.transact(turn_pair.REFRESH, lambda _: [turn_pair.attribute(turn_pair.LIFETIME, struct.pack("!I", 3600))]))
    persist(lambda: client.bind(0x4001, peer.getsockname()[:2]))
    bound, bind_sent = time.monotonic(), sock.last_sent
    # Set up, the flood starts: a sender past the relay's capacity leaves a legitimate request little chance.
    open(args.ready_file, "w").close()
    while not os.path.exists(args.go_file):
        time.sleep(0.05)
    # The relay started the binding's 600 s between bind_sent and bound (its clock unshifted until now): moving its
    # clock on by `shift` puts the expiry between expires_earliest and expires_latest on ours.
    shift = 600.0 - (time.monotonic() - bound) - args.lead
    with open(args.clock_file, "r+b") as clock:
        clock.write(struct.pack("<q", int(shift * 1e9)))
    expires_latest = bound + 600.0 - shift
    expires_earliest = bind_sent + 600.0 - shift

    peer.setblocking(False)
    # When relayed datagrams arrive, not when they were sent: under a flood a datagram waits in the relay's socket
    # buffer, and the relay relays by the binding as it stands when it reads the datagram.
    arrivals, sent = [], 0
    end = expires_latest + args.watch
    while time.monotonic() < end:
        sock.sendto(turn_pair.channel_data(0x4001, struct.pack("!I", sent) + bytes(60)), relay)
        sent += 1
        time.sleep(0.005)
        while True:
            try:
                peer.recvfrom(2048)
            except BlockingIOError:
                break
            arrivals.append(time.monotonic())
    if not arrivals:
        turn_pair.report(False, f"[{args.label}] the bound channel relayed before its expiry (nothing arrived)")
        return 1
    late = arrivals[-1] - expires_earliest
    print(f"[{args.label}] the binding expired {expires_earliest - bound:.3f}..{expires_latest - bound:.3f} s after "
          f"it was bound (shifted clock); the last relayed datagram arrived {late:+.3f} s from its expiry; "
          f"{len(arrivals)} of {sent} relayed", flush=True)
    turn_pair.report(arrivals[-1] >= expires_latest - 0.25,
                     f"[{args.label}] the binding relayed until its expiry (last {late:+.3f} s from it)")
    turn_pair.report(late <= 1.0, f"[{args.label}] under the flood, the expired binding stopped relaying within 1 s of "
                                  f"its expiry ({late:+.3f} s)")
    return 1 if turn_pair.failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["flood", "clients", "expiry"])
    parser.add_argument("--target")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--until-file")
    parser.add_argument("--rate", type=int, default=0, help="datagrams per second; 0 sends as fast as it can")
    parser.add_argument("--distinct", type=int, default=50_000)
    parser.add_argument("--busy-prefixes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SIMULATION_SEED", "1")))
    parser.add_argument("--secret")
    parser.add_argument("--relay")
    parser.add_argument("--host-a", nargs=2, metavar=("NS", "V4"))
    parser.add_argument("--host-b", nargs=2, metavar=("NS", "V4"))
    parser.add_argument("--least", type=float, default=0.9)
    parser.add_argument("--clock-file")
    parser.add_argument("--ready-file")
    parser.add_argument("--go-file")
    parser.add_argument("--lead", type=float, default=1.0, help="seconds from the clock shift to the expiry")
    parser.add_argument("--watch", type=float, default=2.0)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    return {"flood": flood, "clients": clients, "expiry": expiry}[args.mode](args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
