/*
 * What the relay's XDP program (ebpf/xdp/relay_xdp.bpf.c) and firezone-relay share: the map keys and values,
 * the program's configuration, and the reasons it counts. Compiled both for the BPF target and for the host
 * (Swift imports it as the CRelayXDP module), so it uses only the kernel's fixed-width UAPI types.
 *
 * As in Firezone's relay: keys and values are byte arrays in network byte order (rust/relay/ebpf-shared/src/lib.rs),
 * and the maps hold 65 536 entries each (rust/relay/ebpf-turn-router/src/try_handle_turn/channel_maps.rs).
 */
#ifndef FIREZONE_RELAY_XDP_H
#define FIREZONE_RELAY_XDP_H

#include <linux/types.h>

/* Entries in each binding map: one per channel binding of that family combination. */
#define RELAY_XDP_MAXIMUM_BINDINGS 65536

/* The object's program and map names, as firezone-relay finds them. */
#define RELAY_XDP_PROGRAM_NAME "handle_turn"
#define RELAY_XDP_COUNTERS_MAP_NAME "counters"

/* A client socket and one of its channels: what channel data from a client is looked up by. */
struct relay_xdp_client_and_channel_v4 {
    __u8 address[4];
    __u8 port[2];
    __u8 channel[2];
};

struct relay_xdp_client_and_channel_v6 {
    __u8 address[16];
    __u8 port[2];
    __u8 channel[2];
};

/* A peer socket and the allocation port it talks to: what a peer's datagram is looked up by. */
struct relay_xdp_port_and_peer_v4 {
    __u8 address[4];
    __u8 allocation_port[2];
    __u8 peer_port[2];
};

struct relay_xdp_port_and_peer_v6 {
    __u8 address[16];
    __u8 allocation_port[2];
    __u8 peer_port[2];
};

/*
 * The program's configuration, fixed before it is loaded (`const volatile` rodata, so that the verifier sees
 * the values). Addresses are in network byte order and all-zero when the relay has no address of that family;
 * ports are in host byte order.
 */
struct relay_xdp_config {
    /* The relay's public addresses: a peer at one of them is another allocation on this relay (loopback). */
    __u8 public_ipv4[4];
    __u8 public_ipv6[16];
    /* The interface's addresses: the source of packets translated from the other family. */
    __u8 interface_ipv4[4];
    __u8 interface_ipv6[16];
    __u16 listen_port;
    __u16 lowest_allocation_port;
    __u16 highest_allocation_port;
    /*
     * The longest frame the interface receives as one packet (its MTU plus the Ethernet header), 0 for no limit.
     * In generic mode the program also sees GRO and GSO super-packets, many datagrams under one header whose
     * segment size only the kernel knows: translated, the kernel would split them where the untranslated
     * datagrams ended.
     */
    __u32 maximum_frame_length;
};

/* What the program did with a packet and why; each has a per-CPU counter (`counters`, indexed by reason). */
enum relay_xdp_reason {
    /* XDP_TX: relayed in the kernel. */
    RELAY_XDP_CHANNEL_TO_UDP,           /* a client's channel data, sent on to its peer as UDP */
    RELAY_XDP_UDP_TO_CHANNEL,           /* a peer's datagram, sent on to the client as channel data */
    RELAY_XDP_CHANNEL_TO_CHANNEL,       /* loopback: channel data for a peer allocated on this relay */

    /* XDP_PASS: not ours, or something userspace handles. */
    RELAY_XDP_PASS_NOT_IP,              /* neither IPv4 nor IPv6 (ARP, VLAN tags, ...) */
    RELAY_XDP_PASS_NOT_UDP,             /* another protocol, or an IPv6 extension header before UDP */
    RELAY_XDP_PASS_IPV4_WITH_OPTIONS,
    RELAY_XDP_PASS_IP_FRAGMENT,         /* the kernel reassembles */
    RELAY_XDP_PASS_MALFORMED,           /* truncated, or lengths that disagree: the kernel decides */
    RELAY_XDP_PASS_TOO_LONG,            /* would not fit the 16-bit length fields once translated */
    RELAY_XDP_PASS_COALESCED,           /* longer than the interface's MTU: a GRO/GSO super-packet (generic mode) */
    RELAY_XDP_PASS_DNS,                 /* from port 53: answers to the relay's own queries */
    RELAY_XDP_PASS_NOT_TURN_PORT,       /* neither the listening port nor an allocation port */
    RELAY_XDP_PASS_NOT_CHANNEL_DATA,    /* STUN on the listening port */
    RELAY_XDP_PASS_CHANNEL_DATA_PADDED, /* shorter than its datagram: userspace strips the padding */
    RELAY_XDP_PASS_UDP_CHECKSUM_MISSING, /* IPv6 needs a UDP checksum the packet does not have */
    RELAY_XDP_PASS_EXCEEDS_MTU,         /* translated, it would be longer than the interface's MTU */
    /*
     * No binding in the maps. The maps mirror the relay's bindings but may lack one the relay holds (an insert
     * failed: map full), and an allocation port may also be a port of the host's own UDP traffic; so the kernel
     * decides: the relay's socket gets it (userspace relays it or drops it, counted), another socket gets it, or
     * nothing does. Dropping here would black-hole both; strangers gain nothing from the pass, since STUN to the
     * listening port reaches userspace anyway.
     */
    RELAY_XDP_PASS_NO_CHANNEL_BINDING,  /* channel data on a channel the maps do not hold */
    RELAY_XDP_PASS_NO_PEER_BINDING,     /* a datagram from a peer the maps hold no channel for */
    RELAY_XDP_PASS_NO_LOOPBACK_BINDING, /* loopback to an allocation the maps hold no channel back to the sender for */

    /* XDP_DROP: nothing would relay it. */
    RELAY_XDP_DROP_BAD_CHANNEL_DATA_LENGTH, /* channel data longer than its datagram */
    RELAY_XDP_DROP_ADDRESS_UNSET,       /* translating to a family the relay has no address in */
    RELAY_XDP_DROP_ADJUST_HEAD_FAILED,

    RELAY_XDP_REASON_COUNT
};

/*
 * One reason's count. `bytes` is the application data for the relayed reasons (as the userspace relay counts
 * it) and the whole frame for the others.
 */
struct relay_xdp_counter {
    __u64 packets;
    __u64 bytes;
};

/* The XDP action of a reason: 3 (XDP_TX), 2 (XDP_PASS) or 1 (XDP_DROP). */
static inline __u32 relay_xdp_reason_action(enum relay_xdp_reason reason)
{
    if (reason <= RELAY_XDP_CHANNEL_TO_CHANNEL)
        return 3;
    if (reason <= RELAY_XDP_PASS_NO_LOOPBACK_BINDING)
        return 2;
    return 1;
}

/* The reason as a metrics label. */
static inline const char *relay_xdp_reason_name(enum relay_xdp_reason reason)
{
    switch (reason) {
    case RELAY_XDP_CHANNEL_TO_UDP: return "channel_to_udp";
    case RELAY_XDP_UDP_TO_CHANNEL: return "udp_to_channel";
    case RELAY_XDP_CHANNEL_TO_CHANNEL: return "channel_to_channel";
    case RELAY_XDP_PASS_NOT_IP: return "not_ip";
    case RELAY_XDP_PASS_NOT_UDP: return "not_udp";
    case RELAY_XDP_PASS_IPV4_WITH_OPTIONS: return "ipv4_with_options";
    case RELAY_XDP_PASS_IP_FRAGMENT: return "ip_fragment";
    case RELAY_XDP_PASS_MALFORMED: return "malformed";
    case RELAY_XDP_PASS_TOO_LONG: return "too_long";
    case RELAY_XDP_PASS_COALESCED: return "coalesced";
    case RELAY_XDP_PASS_DNS: return "dns";
    case RELAY_XDP_PASS_NOT_TURN_PORT: return "not_turn_port";
    case RELAY_XDP_PASS_NOT_CHANNEL_DATA: return "not_channel_data";
    case RELAY_XDP_PASS_CHANNEL_DATA_PADDED: return "channel_data_padded";
    case RELAY_XDP_PASS_UDP_CHECKSUM_MISSING: return "udp_checksum_missing";
    case RELAY_XDP_PASS_EXCEEDS_MTU: return "exceeds_mtu";
    case RELAY_XDP_PASS_NO_CHANNEL_BINDING: return "no_channel_binding";
    case RELAY_XDP_PASS_NO_PEER_BINDING: return "no_peer_binding";
    case RELAY_XDP_PASS_NO_LOOPBACK_BINDING: return "no_loopback_binding";
    case RELAY_XDP_DROP_BAD_CHANNEL_DATA_LENGTH: return "bad_channel_data_length";
    case RELAY_XDP_DROP_ADDRESS_UNSET: return "address_unset";
    case RELAY_XDP_DROP_ADJUST_HEAD_FAILED: return "adjust_head_failed";
    case RELAY_XDP_REASON_COUNT: break;
    }
    return "unknown";
}

#endif
