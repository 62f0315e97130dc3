/*
 * Writing the translated packet. Every translation keeps the application data where it lies and rebuilds the
 * headers in front of it: the head moves by the difference in header lengths (an IPv6 header is 20 bytes
 * longer than an IPv4 one; channel data has 4 more), then Ethernet, IP, UDP and, for channel data, the channel
 * header are written from the parsed copy (`struct relay_input`). The packet leaves on the interface it came
 * in on (XDP_TX), so the MAC addresses swap: the next hop it came from is the next hop it goes to.
 */
#ifndef FIREZONE_RELAY_XDP_REWRITE_H
#define FIREZONE_RELAY_XDP_REWRITE_H

#include "maps.h"
#include "parsing_helpers.h"

/* RFC 791: Don't Fragment, for IPv4 headers made from IPv6 ones (IPv6 routers never fragment either). */
#define IPV4_DONT_FRAGMENT 0x4000

/* The output's ports and channel, in network byte order; `channel` is zero for plain UDP. */
struct relay_output {
    __be16 source_port;
    __be16 destination_port;
    __be16 channel;
};

/* Channel data from the listening port to a client. */
static __always_inline struct relay_output output_to_client(const __u8 port[2], const __u8 channel[2])
{
    struct relay_output out = { .source_port = bpf_htons(config.listen_port) };

    __builtin_memcpy(&out.destination_port, port, 2);
    __builtin_memcpy(&out.channel, channel, 2);
    return out;
}

/* A datagram from the allocation port to a peer. */
static __always_inline struct relay_output output_to_peer(const __u8 allocation_port[2], const __u8 peer_port[2])
{
    struct relay_output out = { .channel = 0 };

    __builtin_memcpy(&out.source_port, allocation_port, 2);
    __builtin_memcpy(&out.destination_port, peer_port, 2);
    return out;
}

static __always_inline int is_zero_address(const __u8 *address, int length)
{
    __u8 any = 0;
#pragma unroll
    for (int index = 0; index < length; index++)
        any |= address[index];
    return any == 0;
}

/* The output's UDP checksum: the input's base (the changed words taken out) plus the new words. */
static __always_inline __be16 translated_udp_checksum(const struct relay_input *in, const __u8 *source,
                                                      const __u8 *destination, int address_length,
                                                      const struct relay_output *out, __be16 udp_length)
{
    __u32 sum = in->checksum_base;

    sum = csum_add_words(sum, source, address_length);
    sum = csum_add_words(sum, destination, address_length);
    sum = csum_add_word(sum, out->source_port);
    sum = csum_add_word(sum, out->destination_port);
    sum = csum_add_word(sum, udp_length);
    sum = csum_add_word(sum, udp_length);
    if (out->channel) {
        sum = csum_add_word(sum, out->channel);
        sum = csum_add_word(sum, bpf_htons(in->payload_length));
    }
    return csum_udp_final(sum);
}

/*
 * Whether the translated frame (Ethernet onwards, `ip_header_length` + `udp_length` after it) would be longer than
 * the interface takes: a datagram that fits the MTU on arrival can outgrow it by the channel header (4 bytes) or the
 * IPv4 to IPv6 header difference (20 bytes). Userspace relays such a datagram through the kernel, which fragments
 * (IPv4) or answers with a "packet too big" (IPv6); sent from here, the interface would drop it.
 */
static __always_inline int exceeds_mtu(int ip_header_length, __u16 udp_length)
{
    return config.maximum_frame_length != 0 &&
           sizeof(struct ethhdr) + ip_header_length + udp_length > config.maximum_frame_length;
}

/* Moves the head so that `output_header_length` bytes of headers end where the input's ended. */
static __always_inline int move_head(struct xdp_md *ctx, const struct relay_input *in, int output_header_length)
{
    return bpf_xdp_adjust_head(ctx, (int)in->header_length - output_header_length);
}

static __always_inline void write_ethernet(struct ethhdr *eth, const struct relay_input *in, __u16 protocol)
{
    __builtin_memcpy(eth->h_dest, in->eth_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, in->eth_destination, ETH_ALEN);
    eth->h_proto = bpf_htons(protocol);
}

static __always_inline void write_udp_and_channel(struct udphdr *udp, __be16 *channel_header,
                                                  const struct relay_input *in, const struct relay_output *out,
                                                  __be16 udp_length, __be16 checksum)
{
    udp->source = out->source_port;
    udp->dest = out->destination_port;
    udp->len = udp_length;
    udp->check = checksum;
    if (channel_header) {
        channel_header[0] = out->channel;
        channel_header[1] = bpf_htons(in->payload_length);
    }
}

static __always_inline __sum16 ipv4_header_checksum(const struct iphdr *ip)
{
    return ~csum_fold(csum_add_words(0, (const __u8 *)ip, sizeof(*ip)));
}

/* Writes an IPv4 packet from `source` to `destination` (4 bytes each), then returns `relayed`. */
static __always_inline enum relay_xdp_reason emit_ipv4(struct xdp_md *ctx, const struct relay_input *in,
                                                       const __u8 *source, const __u8 *destination,
                                                       const struct relay_output *out, int input_is_ipv4,
                                                       enum relay_xdp_reason relayed)
{
    int channel_length = out->channel ? CHANNEL_HEADER_LEN : 0;
    int header_length = sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) + channel_length;
    __u16 udp_length = sizeof(struct udphdr) + channel_length + in->payload_length;
    __be16 udp_length_field = bpf_htons(udp_length);
    /* RFC 768: an IPv4 datagram without a checksum stays without one. */
    __be16 checksum = 0;

    if (is_zero_address(source, 4))
        return RELAY_XDP_DROP_ADDRESS_UNSET;
    if (exceeds_mtu(sizeof(struct iphdr), udp_length))
        return RELAY_XDP_PASS_EXCEEDS_MTU;
    if (in->udp_checksum)
        checksum = translated_udp_checksum(in, source, destination, 4, out, udp_length_field);
    /* `source` and `destination` point to the stack copy or into a map value: neither moves with the head. */
    if (move_head(ctx, in, header_length))
        return RELAY_XDP_DROP_ADJUST_HEAD_FAILED;

    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __be16 *channel_header = (void *)(udp + 1);
    if ((void *)(udp + 1) > data_end || (out->channel && (void *)(channel_header + 2) > data_end))
        return RELAY_XDP_DROP_ADJUST_HEAD_FAILED;

    write_ethernet(eth, in, ETH_P_IP);
    ip->version = 4;
    ip->ihl = 5;
    ip->tos = in->traffic_class;
    ip->tot_len = bpf_htons(sizeof(struct iphdr) + udp_length);
    ip->id = input_is_ipv4 ? in->ipv4_id : 0;
    ip->frag_off = input_is_ipv4 ? in->ipv4_flags : bpf_htons(IPV4_DONT_FRAGMENT);
    ip->ttl = in->hop_limit;
    ip->protocol = IPPROTO_UDP;
    ip->check = 0;
    __builtin_memcpy(&ip->saddr, source, 4);
    __builtin_memcpy(&ip->daddr, destination, 4);
    ip->check = ipv4_header_checksum(ip);
    write_udp_and_channel(udp, out->channel ? channel_header : 0, in, out, udp_length_field, checksum);
    return relayed;
}

/* Writes an IPv6 packet from `source` to `destination` (16 bytes each), then returns `relayed`. */
static __always_inline enum relay_xdp_reason emit_ipv6(struct xdp_md *ctx, const struct relay_input *in,
                                                       const __u8 *source, const __u8 *destination,
                                                       const struct relay_output *out, int input_is_ipv6,
                                                       enum relay_xdp_reason relayed)
{
    int channel_length = out->channel ? CHANNEL_HEADER_LEN : 0;
    int header_length = sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr) + channel_length;
    __u16 udp_length = sizeof(struct udphdr) + channel_length + in->payload_length;
    __be16 udp_length_field = bpf_htons(udp_length);

    if (is_zero_address(source, 16))
        return RELAY_XDP_DROP_ADDRESS_UNSET;
    if (exceeds_mtu(sizeof(struct ipv6hdr), udp_length))
        return RELAY_XDP_PASS_EXCEEDS_MTU;
    /* An IPv4 datagram without a checksum cannot become IPv6 without computing one over the whole payload;
     * userspace does that. */
    if (!in->udp_checksum)
        return RELAY_XDP_PASS_UDP_CHECKSUM_MISSING;
    __be16 checksum = translated_udp_checksum(in, source, destination, 16, out, udp_length_field);
    if (move_head(ctx, in, header_length))
        return RELAY_XDP_DROP_ADJUST_HEAD_FAILED;

    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct ipv6hdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __be16 *channel_header = (void *)(udp + 1);
    if ((void *)(udp + 1) > data_end || (out->channel && (void *)(channel_header + 2) > data_end))
        return RELAY_XDP_DROP_ADJUST_HEAD_FAILED;

    write_ethernet(eth, in, ETH_P_IPV6);
    /* Version, traffic class and flow label share the first 32 bits. */
    __be32 first_word = bpf_htonl(6 << 28 | (__u32)in->traffic_class << 20);
    if (input_is_ipv6)
        first_word |= in->ipv6_flow_label;
    *(__be32 *)ip = first_word;
    ip->payload_len = udp_length_field;
    ip->nexthdr = IPPROTO_UDP;
    ip->hop_limit = in->hop_limit;
    __builtin_memcpy(&ip->saddr, source, 16);
    __builtin_memcpy(&ip->daddr, destination, 16);
    write_udp_and_channel(udp, out->channel ? channel_header : 0, in, out, udp_length_field, checksum);
    return relayed;
}

#endif
