/*
 * The relay's maps (Firezone's rust/relay/ebpf-turn-router/src/try_handle_turn/channel_maps.rs) and configuration.
 * Channel bindings are mirrored by firezone-relay in both directions; the map names say the direction and the families:
 * `chan_to_udp_46` takes an IPv4 client's channel to an IPv6 peer, `udp_to_chan_64` an IPv6 peer's datagram to an IPv4
 * client.
 */
#ifndef FIREZONE_RELAY_XDP_MAPS_H
#define FIREZONE_RELAY_XDP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "relay_xdp.h"

#define BINDING_MAP(name, key_type, value_type)                                                              \
    struct {                                                                                                 \
        __uint(type, BPF_MAP_TYPE_HASH);                                                                     \
        __uint(max_entries, RELAY_XDP_MAXIMUM_BINDINGS);                                                     \
        __type(key, key_type);                                                                               \
        __type(value, value_type);                                                                           \
    } name SEC(".maps")

BINDING_MAP(chan_to_udp_44, struct relay_xdp_client_and_channel_v4, struct relay_xdp_port_and_peer_v4);
BINDING_MAP(chan_to_udp_46, struct relay_xdp_client_and_channel_v4, struct relay_xdp_port_and_peer_v6);
BINDING_MAP(chan_to_udp_64, struct relay_xdp_client_and_channel_v6, struct relay_xdp_port_and_peer_v4);
BINDING_MAP(chan_to_udp_66, struct relay_xdp_client_and_channel_v6, struct relay_xdp_port_and_peer_v6);
BINDING_MAP(udp_to_chan_44, struct relay_xdp_port_and_peer_v4, struct relay_xdp_client_and_channel_v4);
BINDING_MAP(udp_to_chan_46, struct relay_xdp_port_and_peer_v4, struct relay_xdp_client_and_channel_v6);
BINDING_MAP(udp_to_chan_64, struct relay_xdp_port_and_peer_v6, struct relay_xdp_client_and_channel_v4);
BINDING_MAP(udp_to_chan_66, struct relay_xdp_port_and_peer_v6, struct relay_xdp_client_and_channel_v6);

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RELAY_XDP_REASON_COUNT);
    __type(key, __u32);
    __type(value, struct relay_xdp_counter);
} counters SEC(".maps");

/* Set by firezone-relay before loading; the verifier sees the values. */
const volatile struct relay_xdp_config config = {};

static __always_inline void config_address(__u8 *address, const volatile __u8 *configured, int length)
{
#pragma unroll
    for (int index = 0; index < length; index++)
        address[index] = configured[index];
}

/* Whether `address` is the relay's own public address of that family: a peer there is another allocation. */
static __always_inline int is_public_address(const __u8 *address, const volatile __u8 *public_address, int length)
{
    __u8 difference = 0;
    __u8 any = 0;
#pragma unroll
    for (int index = 0; index < length; index++) {
        difference |= address[index] ^ public_address[index];
        any |= public_address[index];
    }
    return any && !difference;
}

#endif
