/*
 * Channel data from an IPv4 client to the listening port, as Firezone's
 * rust/relay/ebpf-turn-router/src/try_handle_turn/from_ipv4_channel: to its peer as UDP over IPv4 or IPv6, or, when the
 * peer is another allocation on this relay (Firezone #10286), to that allocation's client as channel data over IPv4 or
 * IPv6.
 *
 * The output leaves from the address the client sent to when the family stays, and from the interface's
 * address of the other family when it changes.
 */
#ifndef FIREZONE_RELAY_XDP_FROM_IPV4_CHANNEL_H
#define FIREZONE_RELAY_XDP_FROM_IPV4_CHANNEL_H

#include "loopback.h"
#include "rewrite.h"

static __always_inline enum relay_xdp_reason from_ipv4_channel_to_ipv4_udp(
    struct xdp_md *ctx, const struct relay_input *in, const struct relay_xdp_port_and_peer_v4 *peer)
{
    struct relay_output out = output_to_peer(peer->allocation_port, peer->peer_port);

    return emit_ipv4(ctx, in, in->destination, peer->address, &out, 1, RELAY_XDP_CHANNEL_TO_UDP);
}

static __always_inline enum relay_xdp_reason from_ipv4_channel_to_ipv6_udp(
    struct xdp_md *ctx, const struct relay_input *in, const struct relay_xdp_port_and_peer_v6 *peer)
{
    struct relay_output out = output_to_peer(peer->allocation_port, peer->peer_port);
    __u8 source[16];

    config_address(source, config.interface_ipv6, 16);
    return emit_ipv6(ctx, in, source, peer->address, &out, 0, RELAY_XDP_CHANNEL_TO_UDP);
}

static __always_inline enum relay_xdp_reason from_ipv4_channel_to_ipv4_channel(
    struct xdp_md *ctx, const struct relay_input *in, const struct relay_xdp_client_and_channel_v4 *client)
{
    struct relay_output out = output_to_client(client->port, client->channel);

    return emit_ipv4(ctx, in, in->destination, client->address, &out, 1, RELAY_XDP_CHANNEL_TO_CHANNEL);
}

static __always_inline enum relay_xdp_reason from_ipv4_channel_to_ipv6_channel(
    struct xdp_md *ctx, const struct relay_input *in, const struct relay_xdp_client_and_channel_v6 *client)
{
    struct relay_output out = output_to_client(client->port, client->channel);
    __u8 source[16];

    config_address(source, config.interface_ipv6, 16);
    return emit_ipv6(ctx, in, source, client->address, &out, 0, RELAY_XDP_CHANNEL_TO_CHANNEL);
}

static __always_inline enum relay_xdp_reason from_ipv4_channel_to_loopback(
    struct xdp_md *ctx, const struct relay_input *in, struct loopback_client client)
{
    if (client.v4)
        return from_ipv4_channel_to_ipv4_channel(ctx, in, client.v4);
    if (client.v6)
        return from_ipv4_channel_to_ipv6_channel(ctx, in, client.v6);
    return RELAY_XDP_PASS_NO_LOOPBACK_BINDING;
}

static __always_inline enum relay_xdp_reason from_ipv4_channel(struct xdp_md *ctx, const struct relay_input *in)
{
    struct relay_xdp_client_and_channel_v4 key;

    __builtin_memcpy(key.address, in->source, 4);
    __builtin_memcpy(key.port, &in->source_port, 2);
    __builtin_memcpy(key.channel, &in->channel, 2);

    const struct relay_xdp_port_and_peer_v4 *peer_v4 = bpf_map_lookup_elem(&chan_to_udp_44, &key);
    if (peer_v4) {
        if (is_public_address(peer_v4->address, config.public_ipv4, 4))
            return from_ipv4_channel_to_loopback(ctx, in, loopback_via_ipv4(peer_v4));
        return from_ipv4_channel_to_ipv4_udp(ctx, in, peer_v4);
    }
    const struct relay_xdp_port_and_peer_v6 *peer_v6 = bpf_map_lookup_elem(&chan_to_udp_46, &key);
    if (peer_v6) {
        if (is_public_address(peer_v6->address, config.public_ipv6, 16))
            return from_ipv4_channel_to_loopback(ctx, in, loopback_via_ipv6(peer_v6));
        return from_ipv4_channel_to_ipv6_udp(ctx, in, peer_v6);
    }
    return RELAY_XDP_PASS_NO_CHANNEL_BINDING;
}

#endif
