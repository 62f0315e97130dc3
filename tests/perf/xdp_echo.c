// SPDX-License-Identifier: GPL-2.0
/*
 * The load host of tests/perf/relay.sh's "one core each" measurement, answering in XDP: everything a relay
 * relays to the load host (IPv4 UDP from RELAY_ADDRESS carrying relay-load's payloads: a peer's datagram of
 * 0x5A bytes, or channel data of 0x5A or 0xA5 bytes to a client) goes straight back with addresses and ports
 * swapped. A datagram the relay sent from an allocation to a peer returns as the peer's datagram to that
 * allocation; channel data the relay sent to a client returns as that client's channel data. So every packet
 * circulates through the relay until it is dropped at a full queue, the load host spends a few hundred
 * nanoseconds per packet in its softirq instead of a socket round trip, and the relay sets the rate. The count
 * of answered packets is the count of relayed ones.
 *
 * Returned frames leave with full UDP checksums, recomputed here: a userspace relay sends with checksum offload,
 * so its datagrams arrive with only the pseudo-header sum, which the relay's own stack would then reject. (The
 * swap alone leaves a full checksum valid; the IPv4 header checksum is never affected.)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_UDP_LENGTH 1480

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} fzperf_echo SEC(".maps");

static __always_inline int is_relayed_load(const __u8 *payload)
{
    return payload[0] == 0x5A || (payload[0] == 0x40 && (payload[4] == 0x5A || payload[4] == 0xA5));
}

/* The UDP checksum from scratch: pseudo header, then the UDP header and payload as 16-bit words in memory order
 * (the one's complement sum does not depend on byte order as long as every word is read the same way). */
static __always_inline __u16 udp_checksum(const struct iphdr *ip, struct udphdr *udp, const void *data_end)
{
    __u32 sum = (ip->saddr >> 16) + (ip->saddr & 0xFFFF) + (ip->daddr >> 16) + (ip->daddr & 0xFFFF) +
                bpf_htons(IPPROTO_UDP) + udp->len;
    const __u16 *word = (const void *)udp;

    udp->check = 0;
    for (int i = 0; i < MAX_UDP_LENGTH / 2; i++) {
        if ((const void *)(word + 1) > data_end)
            break;
        sum += *word++;
    }
    if ((const void *)word + 1 <= data_end)
        sum += *(const __u8 *)word;
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    __u16 check = ~sum & 0xFFFF;
    return check ? check : 0xFFFF;
}

SEC("xdp")
int echo(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __u8 *payload = (void *)(udp + 1);

    if ((void *)(payload + 5) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
        ip->protocol != IPPROTO_UDP || ip->saddr != bpf_htonl(RELAY_ADDRESS) || !is_relayed_load(payload))
        return XDP_PASS;
    __u16 udp_length = bpf_ntohs(udp->len);
    if (udp_length > MAX_UDP_LENGTH || (void *)udp + udp_length != data_end)
        return XDP_PASS;

    __u8 mac[ETH_ALEN];
    __builtin_memcpy(mac, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
    __be32 address = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = address;
    __be16 port = udp->source;
    udp->source = udp->dest;
    udp->dest = port;
    udp->check = udp_checksum(ip, udp, data_end);

    __u32 key = 0;
    __u64 *count = bpf_map_lookup_elem(&fzperf_echo, &key);
    if (count)
        *count += 1;
    return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
