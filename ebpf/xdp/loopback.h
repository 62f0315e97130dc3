/*
 * Relay-to-relay loopback (Firezone #10286). When both ends of a relayed path are allocated on this relay, client A's
 * channel is bound to peer (relay, B's allocation port) and B's to (relay, A's allocation port). Sent out as UDP, A's
 * data would leave the interface addressed to ourselves; instead the ports are flipped, which gives the key B's binding
 * to A is stored under, and the data goes to B as channel data at once.
 */
#ifndef FIREZONE_RELAY_XDP_LOOPBACK_H
#define FIREZONE_RELAY_XDP_LOOPBACK_H

#include "maps.h"

/* The other client, of whichever family it has; both are null when it has no channel back to the sender. */
struct loopback_client {
    const struct relay_xdp_client_and_channel_v4 *v4;
    const struct relay_xdp_client_and_channel_v6 *v6;
};

static __always_inline struct loopback_client loopback_via_ipv4(const struct relay_xdp_port_and_peer_v4 *peer)
{
    struct relay_xdp_port_and_peer_v4 flipped;
    struct loopback_client client;

    __builtin_memcpy(flipped.address, peer->address, 4);
    __builtin_memcpy(flipped.allocation_port, peer->peer_port, 2);
    __builtin_memcpy(flipped.peer_port, peer->allocation_port, 2);
    client.v4 = bpf_map_lookup_elem(&udp_to_chan_44, &flipped);
    client.v6 = client.v4 ? 0 : bpf_map_lookup_elem(&udp_to_chan_46, &flipped);
    return client;
}

static __always_inline struct loopback_client loopback_via_ipv6(const struct relay_xdp_port_and_peer_v6 *peer)
{
    struct relay_xdp_port_and_peer_v6 flipped;
    struct loopback_client client;

    __builtin_memcpy(flipped.address, peer->address, 16);
    __builtin_memcpy(flipped.allocation_port, peer->peer_port, 2);
    __builtin_memcpy(flipped.peer_port, peer->allocation_port, 2);
    client.v4 = bpf_map_lookup_elem(&udp_to_chan_64, &flipped);
    client.v6 = client.v4 ? 0 : bpf_map_lookup_elem(&udp_to_chan_66, &flipped);
    return client;
}

#endif
