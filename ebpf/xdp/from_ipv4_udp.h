/*
 * A datagram from a peer to an allocation port, over IPv4, as Firezone's
 * rust/relay/ebpf-turn-router/src/try_handle_turn/from_ipv4_udp: to the client whose channel is bound to that peer, as
 * channel data over IPv4 or IPv6 from the listening port. A peer's datagram always becomes channel data, so this path
 * cannot loop back to the relay (Firezone #10286).
 */
#ifndef FIREZONE_RELAY_XDP_FROM_IPV4_UDP_H
#define FIREZONE_RELAY_XDP_FROM_IPV4_UDP_H

#include "rewrite.h"

static __always_inline enum relay_xdp_reason from_ipv4_udp_to_ipv4_channel(
    struct xdp_md *ctx, const struct relay_input *in, const struct relay_xdp_client_and_channel_v4 *client)
{
    struct relay_output out = output_to_client(client->port, client->channel);

    return emit_ipv4(ctx, in, in->destination, client->address, &out, 1, RELAY_XDP_UDP_TO_CHANNEL);
}

static __always_inline enum relay_xdp_reason from_ipv4_udp_to_ipv6_channel(
    struct xdp_md *ctx, const struct relay_input *in, const struct relay_xdp_client_and_channel_v6 *client)
{
    struct relay_output out = output_to_client(client->port, client->channel);
    __u8 source[16];

    config_address(source, config.interface_ipv6, 16);
    return emit_ipv6(ctx, in, source, client->address, &out, 0, RELAY_XDP_UDP_TO_CHANNEL);
}

static __always_inline enum relay_xdp_reason from_ipv4_udp(struct xdp_md *ctx, const struct relay_input *in)
{
    struct relay_xdp_port_and_peer_v4 key;

    __builtin_memcpy(key.address, in->source, 4);
    __builtin_memcpy(key.allocation_port, &in->destination_port, 2);
    __builtin_memcpy(key.peer_port, &in->source_port, 2);

    const struct relay_xdp_client_and_channel_v4 *client_v4 = bpf_map_lookup_elem(&udp_to_chan_44, &key);
    if (client_v4)
        return from_ipv4_udp_to_ipv4_channel(ctx, in, client_v4);
    const struct relay_xdp_client_and_channel_v6 *client_v6 = bpf_map_lookup_elem(&udp_to_chan_46, &key);
    if (client_v6)
        return from_ipv4_udp_to_ipv6_channel(ctx, in, client_v6);
    return RELAY_XDP_PASS_NO_PEER_BINDING;
}

#endif
