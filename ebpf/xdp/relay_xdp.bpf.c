// SPDX-License-Identifier: GPL-2.0
/*
 * The relay's XDP fast path, after Firezone's rust/relay/ebpf-turn-router and its relay-to-relay loopback
 * (Firezone #10286): TURN channel data to UDP and back, in the kernel.
 *
 * A frame longer than the interface's MTU can only be a GRO or GSO super-packet (seen in generic mode): it goes to
 * the kernel, which splits it, and to the relay's sockets, which receive it coalesced.
 *
 * Ethernet, then IPv4 without options or IPv6 with UDP as the next header, then UDP:
 * - to the listening port, channel data (channel 0x4000–0x7FFF, length matching the datagram) from a client
 *   with a binding goes to its peer as UDP from the allocation port (from_ipv{4,6}_channel.h), or to another
 *   client of this relay as channel data when the peer is the relay itself (loopback.h);
 * - to an allocation port, a datagram from a bound peer goes to the client as channel data from the listening
 *   port (from_ipv{4,6}_udp.h);
 * in all four family combinations, leaving on the interface it arrived on (XDP_TX). What the program does not
 * own goes to the kernel (XDP_PASS); what no binding would relay is dropped (XDP_DROP). Every packet is counted
 * under its reason at the one exit.
 *
 * Built from the kernel's UAPI headers rather than a vmlinux.h: the program reads only wire formats, whose
 * layout the UAPI fixes, and so builds the same on a machine whose kernel has no BTF.
 */
#include "from_ipv4_channel.h"
#include "from_ipv4_udp.h"
#include "from_ipv6_channel.h"
#include "from_ipv6_udp.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline enum relay_xdp_reason relay(struct xdp_md *ctx, struct relay_input *in)
{
    struct cursor cursor = {
        .position = (void *)(long)ctx->data,
        .end = (void *)(long)ctx->data_end,
    };
    int family;
    int ip_payload_length;

    if (config.maximum_frame_length != 0 && ctx->data_end - ctx->data > config.maximum_frame_length)
        return RELAY_XDP_PASS_COALESCED;

    int protocol = parse_ethhdr(&cursor, in);
    if (protocol < 0)
        return -protocol;
    switch (protocol) {
    case ETH_P_IP:
        family = 4;
        ip_payload_length = parse_ipv4(&cursor, in);
        break;
    case ETH_P_IPV6:
        family = 6;
        ip_payload_length = parse_ipv6(&cursor, in);
        break;
    default:
        return RELAY_XDP_PASS_NOT_IP;
    }
    if (ip_payload_length < 0)
        return -ip_payload_length;

    int result = parse_udp(&cursor, in, ip_payload_length, family);
    if (result < 0)
        return -result;
    if (in->payload_length > MAXIMUM_TRANSLATABLE_PAYLOAD)
        return RELAY_XDP_PASS_TOO_LONG;
    if (in->source_port == bpf_htons(DNS_PORT))
        return RELAY_XDP_PASS_DNS;

    __u16 destination_port = bpf_ntohs(in->destination_port);
    if (destination_port >= config.lowest_allocation_port && destination_port <= config.highest_allocation_port)
        return family == 4 ? from_ipv4_udp(ctx, in) : from_ipv6_udp(ctx, in);
    if (destination_port != config.listen_port)
        return RELAY_XDP_PASS_NOT_TURN_PORT;

    result = parse_channel_data(&cursor, in);
    if (result < 0)
        return -result;
    return family == 4 ? from_ipv4_channel(ctx, in) : from_ipv6_channel(ctx, in);
}

SEC("xdp")
int handle_turn(struct xdp_md *ctx)
{
    struct relay_input in = {};
    __u64 frame_length = ctx->data_end - ctx->data;
    __u32 reason = relay(ctx, &in);

    struct relay_xdp_counter *counter = bpf_map_lookup_elem(&counters, &reason);
    if (counter) {
        counter->packets += 1;
        counter->bytes += relay_xdp_reason_action(reason) == XDP_TX ? in.payload_length : frame_length;
    }
    return relay_xdp_reason_action(reason);
}
