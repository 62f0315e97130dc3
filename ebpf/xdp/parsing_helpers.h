/*
 * Parsing helpers of the relay's XDP program (xdp-tutorial style): a cursor over the frame, one function per
 * header. Each checks the header lies within the frame before reading it, advances the cursor, and returns the
 * next protocol (or 0) on success and a negative `enum relay_xdp_reason` when the packet is not ours.
 */
#ifndef FIREZONE_RELAY_XDP_PARSING_HELPERS_H
#define FIREZONE_RELAY_XDP_PARSING_HELPERS_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "checksum.h"
#include "relay_xdp.h"

/* RFC 8656 §12.4: a 16-bit channel number and a 16-bit length in front of the application data. */
#define CHANNEL_HEADER_LEN 4
/* RFC 791: the fragment offset and the More Fragments flag. */
#define IPV4_MORE_FRAGMENTS 0x2000
#define IPV4_FRAGMENT_OFFSET 0x1FFF
/* The largest application data that still fits every output's 16-bit lengths: an IPv4 total length of 20 (IP)
 * + 8 (UDP) + 4 (channel header) + data. */
#define MAXIMUM_TRANSLATABLE_PAYLOAD (0xFFFF - 20 - 8 - CHANNEL_HEADER_LEN)
/* RFC 1035: DNS answers come from port 53. */
#define DNS_PORT 53

struct cursor {
    void *position;
    void *end;
};

/* What the parser learned; the rewriters build the output from this copy, never from the input's headers. */
struct relay_input {
    __u8 eth_source[ETH_ALEN];
    __u8 eth_destination[ETH_ALEN];
    /* IPv4's TOS or IPv6's traffic class (DSCP and ECN), kept across translation. */
    __u8 traffic_class;
    /* IPv4's TTL or IPv6's hop limit, kept: the relay is an endpoint, not a router. */
    __u8 hop_limit;
    /* IPv4 only: identification and flags, kept when the output is IPv4 too. */
    __be16 ipv4_id;
    __be16 ipv4_flags;
    /* IPv6 only: the flow label, kept when the output is IPv6 too (network byte order, in the low 20 bits). */
    __be32 ipv6_flow_label;
    /* The first 4 (IPv4) or all 16 bytes. */
    __u8 source[16];
    __u8 destination[16];
    __be16 source_port;
    __be16 destination_port;
    __be16 udp_checksum;
    /* Channel data only: the channel number as received. */
    __be16 channel;
    /* From the Ethernet header to the end of the UDP header, and of the channel header if there is one. */
    __u16 header_length;
    /* The application data: the UDP payload, less the channel header if there is one. */
    __u16 payload_length;
    /* The UDP checksum's one's complement sum with every word a translation replaces taken out (RFC 1624):
     * ~checksum + Σ ~word over the addresses, ports, UDP length (pseudo-header and header) and channel header. */
    __u32 checksum_base;
};

static __always_inline int parse_ethhdr(struct cursor *cursor, struct relay_input *in)
{
    struct ethhdr *eth = cursor->position;

    if ((void *)(eth + 1) > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;
    __builtin_memcpy(in->eth_source, eth->h_source, ETH_ALEN);
    __builtin_memcpy(in->eth_destination, eth->h_dest, ETH_ALEN);
    cursor->position = eth + 1;
    in->header_length = sizeof(*eth);
    return bpf_ntohs(eth->h_proto);
}

/* Returns the length of the IP payload (the UDP datagram). */
static __always_inline int parse_ipv4(struct cursor *cursor, struct relay_input *in)
{
    struct iphdr *ip = cursor->position;

    if ((void *)(ip + 1) > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;
    if (ip->version != 4 || ip->ihl < 5)
        return -RELAY_XDP_PASS_MALFORMED;
    if (ip->ihl != 5)
        return -RELAY_XDP_PASS_IPV4_WITH_OPTIONS;
    if (ip->protocol != IPPROTO_UDP)
        return -RELAY_XDP_PASS_NOT_UDP;
    if (ip->frag_off & bpf_htons(IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET))
        return -RELAY_XDP_PASS_IP_FRAGMENT;
    /* RFC 1071: a header that does not sum to all ones is corrupt. XDP runs before the kernel's own check, and a
     * translation writes a fresh header checksum, so without this a corrupted header would leave as a valid one. */
    if (csum_fold(csum_add_words(0, (const __u8 *)ip, sizeof(*ip))) != 0xFFFF)
        return -RELAY_XDP_PASS_MALFORMED;
    __u16 total_length = bpf_ntohs(ip->tot_len);
    /* Ethernet may pad a short frame, so the frame can be longer than the packet, never shorter. */
    if (total_length < sizeof(*ip) || (void *)ip + total_length > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;

    in->traffic_class = ip->tos;
    in->hop_limit = ip->ttl;
    in->ipv4_id = ip->id;
    in->ipv4_flags = ip->frag_off;
    __builtin_memcpy(in->source, &ip->saddr, 4);
    __builtin_memcpy(in->destination, &ip->daddr, 4);
    in->checksum_base = csum_remove_words(0, in->source, 4);
    in->checksum_base = csum_remove_words(in->checksum_base, in->destination, 4);
    cursor->position = ip + 1;
    in->header_length += sizeof(*ip);
    return total_length - sizeof(*ip);
}

/* Returns the length of the IP payload (the UDP datagram). Extension headers are left to the kernel. */
static __always_inline int parse_ipv6(struct cursor *cursor, struct relay_input *in)
{
    struct ipv6hdr *ip = cursor->position;

    if ((void *)(ip + 1) > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;
    if (ip->version != 6)
        return -RELAY_XDP_PASS_MALFORMED;
    if (ip->nexthdr != IPPROTO_UDP)
        return -RELAY_XDP_PASS_NOT_UDP;
    __u16 payload_length = bpf_ntohs(ip->payload_len);
    if ((void *)(ip + 1) + payload_length > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;

    in->traffic_class = (ip->priority << 4) | (ip->flow_lbl[0] >> 4);
    in->hop_limit = ip->hop_limit;
    in->ipv6_flow_label = *(__be32 *)ip & bpf_htonl(0x000FFFFF);
    __builtin_memcpy(in->source, &ip->saddr, 16);
    __builtin_memcpy(in->destination, &ip->daddr, 16);
    in->checksum_base = csum_remove_words(0, in->source, 16);
    in->checksum_base = csum_remove_words(in->checksum_base, in->destination, 16);
    cursor->position = ip + 1;
    in->header_length += sizeof(*ip);
    return payload_length;
}

/* `ip_payload_length` is what the IP header says follows it; the UDP length must agree. */
static __always_inline int parse_udp(struct cursor *cursor, struct relay_input *in, int ip_payload_length, int family)
{
    struct udphdr *udp = cursor->position;

    if ((void *)(udp + 1) > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;
    __u16 length = bpf_ntohs(udp->len);
    if (length < sizeof(*udp) || length != ip_payload_length)
        return -RELAY_XDP_PASS_MALFORMED;
    /* RFC 8200 §8.1: IPv6 requires the checksum; the kernel drops such a datagram, or lets a socket take it. */
    if (family == 6 && udp->check == 0)
        return -RELAY_XDP_PASS_UDP_CHECKSUM_MISSING;

    in->source_port = udp->source;
    in->destination_port = udp->dest;
    in->udp_checksum = udp->check;
    in->payload_length = length - sizeof(*udp);
    in->checksum_base += (__u16)~udp->check;
    in->checksum_base = csum_remove_word(in->checksum_base, udp->source);
    in->checksum_base = csum_remove_word(in->checksum_base, udp->dest);
    /* Twice: in the pseudo-header and in the UDP header. */
    in->checksum_base = csum_remove_word(in->checksum_base, udp->len);
    in->checksum_base = csum_remove_word(in->checksum_base, udp->len);
    cursor->position = udp + 1;
    in->header_length += sizeof(*udp);
    return 0;
}

/*
 * RFC 8656 §12: channel numbers 0x4000 through 0x7FFF, so the first two bits are 01; STUN's are 00.
 * RFC 8656 §12.5: over UDP the length must not exceed the datagram; padding after it is allowed.
 */
static __always_inline int parse_channel_data(struct cursor *cursor, struct relay_input *in)
{
    __be16 *header = cursor->position;

    if (in->payload_length < CHANNEL_HEADER_LEN)
        return -RELAY_XDP_PASS_NOT_CHANNEL_DATA;
    if ((void *)(header + 2) > cursor->end)
        return -RELAY_XDP_PASS_MALFORMED;
    if ((bpf_ntohs(header[0]) & 0xC000) != 0x4000)
        return -RELAY_XDP_PASS_NOT_CHANNEL_DATA;
    __u16 declared = bpf_ntohs(header[1]);
    __u16 available = in->payload_length - CHANNEL_HEADER_LEN;
    if (declared > available)
        return -RELAY_XDP_DROP_BAD_CHANNEL_DATA_LENGTH;
    if (declared < available)
        return -RELAY_XDP_PASS_CHANNEL_DATA_PADDED;

    in->channel = header[0];
    in->payload_length = declared;
    in->checksum_base = csum_remove_word(in->checksum_base, header[0]);
    in->checksum_base = csum_remove_word(in->checksum_base, header[1]);
    cursor->position = header + 2;
    in->header_length += CHANNEL_HEADER_LEN;
    return 0;
}

#endif
