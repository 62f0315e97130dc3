// SPDX-License-Identifier: GPL-2.0
/*
 * The load host's sink for tests/perf/relay.sh: at the load host's interface, counts and drops what the relay
 * relayed back (IPv4 UDP from RELAY_ADDRESS carrying relay-load's payloads: 0x5A bytes to a peer, or channel data
 * of 0xA5 bytes to a client), so that the load generator spends nothing on receiving and the relay, not the
 * generator, sets the rate. Everything else (STUN control, ARP) passes. Being an XDP program on the relay's peer
 * veth, it is also what native XDP_TX on veth needs to deliver at all.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} fzperf_sink SEC(".maps");

SEC("xdp")
int sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __u8 *payload = (void *)(udp + 1);

    if ((void *)(payload + 5) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
        ip->protocol != IPPROTO_UDP || ip->saddr != bpf_htonl(RELAY_ADDRESS))
        return XDP_PASS;
    if (payload[0] != 0x5A && !(payload[0] == 0x40 && payload[4] == 0xA5))
        return XDP_PASS;
    __u32 key = 0;
    __u64 *count = bpf_map_lookup_elem(&fzperf_sink, &key);
    if (count)
        *count += 1;
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
