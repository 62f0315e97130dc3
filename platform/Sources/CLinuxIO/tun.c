// TUN devices with offloads: the calls Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void store16(uint8_t *at, uint16_t value);
static uint16_t load16(const uint8_t *at);

int fz_tun_write(int fd, const uint8_t *packet, size_t length) {
    return write(fd, packet, length) < 0 ? -errno : 0;
}

int fz_tun_open_offload(const char *name) {
    if (strlen(name) >= IFNAMSIZ) {
        return -ENAMETOOLONG;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -errno;
    }
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    // The virtio-net header stays on whatever offloads the kernel accepts later (none at all included): reads and
    // writes keep one format, and a header of zeros is a plain packet.
    request.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int header_length = FZ_VNET_HEADER_LENGTH;
    if (ioctl(fd, TUNSETIFF, &request) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &header_length) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int fz_tun_set_offloads(int fd, uint32_t offered, uint32_t *taken) {
    // From the most to the least: USO needs Linux 6.2 (and the kernel takes USO4 and USO6 only together), TSO and
    // checksum offload are older than IFF_VNET_HDR itself. The kernel refuses a set with a flag it does not know
    // with EINVAL (drivers/net/tun.c, set_offload), which is the cue to try the next one.
    static const uint32_t ladder[] = {
        FZ_TUN_OFFLOAD_CHECKSUM | FZ_TUN_OFFLOAD_TSO | FZ_TUN_OFFLOAD_USO,
        FZ_TUN_OFFLOAD_CHECKSUM | FZ_TUN_OFFLOAD_TSO,
        FZ_TUN_OFFLOAD_CHECKSUM,
        0,
    };
    for (size_t index = 0; index < sizeof(ladder) / sizeof(ladder[0]); index++) {
        if ((ladder[index] & ~offered) != 0) {
            continue;
        }
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)ladder[index]) == 0) {
            *taken = ladder[index];
            return 0;
        }
        if (errno != EINVAL) {
            return -errno;
        }
    }
    return -EINVAL;
}

// The sum of the native-endian 32-bit words of `data` (whole words only), in 64 bits: no carry is lost below 2^32
// words. Compiled once per vector width and picked by the CPU at load time (an ifunc, GCC's and Clang's
// target_clones): a packet's payload is summed when a super-packet is cut and again before segments are coalesced,
// and the AVX2 or AVX-512 loop sums a 1,240-byte segment in about half the time of the SSE2 one.
__attribute__((target_clones("avx512bw", "avx2", "default"))) static uint64_t sum_words(const uint8_t *data,
                                                                                       size_t length) {
    uint64_t total = 0;
    for (size_t offset = 0; offset + 4 <= length; offset += 4) {
        uint32_t word;
        memcpy(&word, data + offset, 4);
        total += word;
    }
    return total;
}

// RFC 1071 one's complement sum of `data`, folded to 16 bits, in network byte order (not complemented). Sums
// native-endian 32-bit words and swaps at the end (RFC 1071 §2(B): the sum is byte-order independent).
static uint32_t checksum_add(uint32_t sum, const uint8_t *data, size_t length) {
    uint64_t total = 0;
    // Headers and pseudo-headers (8 to 60 bytes) are summed inline; the call through the ifunc pays off from about
    // a cache line of payload on.
    if (length >= 64) {
        size_t words = length & ~(size_t)3;
        total = sum_words(data, words);
        data += words;
        length -= words;
    }
    while (length >= 4) {
        uint32_t word;
        memcpy(&word, data, 4);
        total += word;
        data += 4;
        length -= 4;
    }
    if (length >= 2) {
        uint16_t half;
        memcpy(&half, data, 2);
        total += half;
        data += 2;
        length -= 2;
    }
    if (length) {
        uint8_t last[2] = {data[0], 0};
        uint16_t half;
        memcpy(&half, last, 2);
        total += half;
    }
    while (total >> 16) {
        total = (total & 0xFFFF) + (total >> 16);
    }
    uint32_t network = __builtin_bswap16((uint16_t)total);
    sum += network;
    return (sum & 0xFFFF) + (sum >> 16);
}

static uint16_t checksum_fold(uint32_t sum) {
    while (sum >> 16) {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void store16(uint8_t *at, uint16_t value) {
    at[0] = value >> 8;
    at[1] = value & 0xFF;
}

static uint16_t load16(const uint8_t *at) {
    return (uint16_t)(at[0] << 8 | at[1]);
}

enum { PROTOCOL_TCP = 6, PROTOCOL_UDP = 17, UDP_HEADER_LENGTH = 8 };

// virtio-net header values (include/uapi/linux/virtio_net.h).
enum {
    VNET_NEEDS_CHECKSUM = 1,
    VNET_GSO_NONE = 0,
    VNET_GSO_TCPV4 = 1,
    VNET_GSO_TCPV6 = 4,
    VNET_GSO_UDP_L4 = 5,
    VNET_GSO_ECN = 0x80,
};

// The pseudo-header sum of a TCP segment or UDP datagram of `transport_length` bytes (RFC 793 §3.1, RFC 768,
// RFC 8200 §8.1), not complemented.
static uint32_t pseudo_header_sum(const uint8_t *packet, size_t transport_length, int ipv6, uint8_t protocol) {
    uint32_t sum = ipv6 ? checksum_add(0, packet + 8, 32) : checksum_add(0, packet + 12, 8);
    sum += protocol + (uint32_t)transport_length;
    return (sum & 0xFFFF) + (sum >> 16);
}

// The TCP or UDP checksum of a whole segment or datagram: pseudo-header plus header and payload. A UDP checksum
// that comes out as zero is sent as all ones (RFC 768: zero means "no checksum").
static void transport_checksum(uint8_t *packet, size_t ip_length, size_t transport_length, int ipv6,
                               uint8_t protocol) {
    uint8_t *transport = packet + ip_length;
    size_t field = protocol == PROTOCOL_TCP ? 16 : 6;
    store16(transport + field, 0);
    uint16_t checksum =
        checksum_fold(checksum_add(pseudo_header_sum(packet, transport_length, ipv6, protocol), transport,
                                   transport_length));
    store16(transport + field, protocol == PROTOCOL_UDP && checksum == 0 ? 0xFFFF : checksum);
}

struct virtio_header {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t header_length;
    uint16_t gso_size;
    uint16_t checksum_start;
    uint16_t checksum_offset;
};

static size_t round_up(size_t value, size_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

int fz_tun_read_segments(int fd, uint8_t *scratch, size_t scratch_capacity, uint8_t *region, size_t region_capacity,
                         size_t headroom, size_t padding_multiple, size_t tailroom, size_t *stride,
                         uint32_t *lengths, unsigned int max_segments) {
    ssize_t length = read(fd, scratch, scratch_capacity);
    if (length < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    }
    if (length < FZ_VNET_HEADER_LENGTH + 20) {
        return -EINVAL;
    }
    struct virtio_header header;
    memcpy(&header, scratch, sizeof(header));
    uint8_t *packet = scratch + FZ_VNET_HEADER_LENGTH;
    size_t packet_length = (size_t)length - FZ_VNET_HEADER_LENGTH;
    uint8_t gso_type = header.gso_type & ~VNET_GSO_ECN;

    if (gso_type == VNET_GSO_NONE) {
        *stride = headroom + round_up(packet_length, padding_multiple) + tailroom;
        if (*stride > region_capacity) {
            return -EINVAL;
        }
        if (header.flags & VNET_NEEDS_CHECKSUM) {  // The field holds the pseudo-header sum.
            size_t start = header.checksum_start, field = start + header.checksum_offset;
            if (field + 2 > packet_length) {
                return -EINVAL;
            }
            store16(packet + field, checksum_fold(checksum_add(0, packet + start, packet_length - start)));
        }
        memcpy(region + headroom, packet, packet_length);
        lengths[0] = (uint32_t)packet_length;
        return 1;
    }
    int udp = gso_type == VNET_GSO_UDP_L4;
    if (gso_type != VNET_GSO_TCPV4 && gso_type != VNET_GSO_TCPV6 && !udp) {
        return -EINVAL;
    }
    // The IP version decides the header; a UDP super-packet's GSO type does not say which (Linux 6.2's USO).
    int ipv6 = udp ? (packet[0] >> 4) == 6 : gso_type == VNET_GSO_TCPV6;
    size_t ip_length = ipv6 ? 40 : (size_t)(packet[0] & 0x0F) * 4;
    // IPv6 extension headers are not segmented here: the transport header must follow the fixed header.
    if ((ipv6 && (packet[0] >> 4) != 6) || (!ipv6 && ((packet[0] >> 4) != 4 || ip_length < 20)) ||
        packet_length < ip_length + 20 || (ipv6 && packet[6] != (udp ? PROTOCOL_UDP : PROTOCOL_TCP)) ||
        (!ipv6 && packet[9] != (udp ? PROTOCOL_UDP : PROTOCOL_TCP))) {
        return -EINVAL;
    }
    size_t transport_length = udp ? UDP_HEADER_LENGTH : (size_t)(packet[ip_length + 12] >> 4) * 4;
    size_t headers = ip_length + transport_length;
    size_t mss = header.gso_size;
    if (transport_length < (udp ? UDP_HEADER_LENGTH : 20) || packet_length < headers || mss == 0) {
        return -EINVAL;
    }
    size_t payload = packet_length - headers;
    size_t count = (payload + mss - 1) / mss;
    if (count == 0) {
        count = 1;
    }
    *stride = headroom + round_up(headers + mss, padding_multiple) + tailroom;
    if (count > max_segments || count * *stride > region_capacity) {
        return -EINVAL;
    }
    uint8_t *first_transport = packet + ip_length;
    uint32_t sequence = (uint32_t)load16(first_transport + 4) << 16 | load16(first_transport + 6);
    uint16_t identification = load16(packet + 4);
    uint8_t flags = first_transport[13];
    for (size_t index = 0; index < count; index++) {
        size_t offset = index * mss;
        size_t size = payload - offset < mss ? payload - offset : mss;
        uint8_t *segment = region + index * *stride + headroom;
        memcpy(segment, packet, headers);
        memcpy(segment + headers, packet + headers + offset, size);
        uint8_t *transport = segment + ip_length;
        if (udp) {
            store16(transport + 4, (uint16_t)(UDP_HEADER_LENGTH + size));
        } else {
            uint32_t segment_sequence = sequence + (uint32_t)offset;
            store16(transport + 4, segment_sequence >> 16);
            store16(transport + 6, segment_sequence & 0xFFFF);
            uint8_t segment_flags = flags;
            if (index + 1 < count) {
                segment_flags &= ~(0x01 | 0x08);  // FIN and PSH only on the last segment
            }
            if (index > 0) {
                segment_flags &= ~0x80;  // CWR only on the first, as the kernel's own segmentation does
            }
            transport[13] = segment_flags;
        }
        if (ipv6) {
            store16(segment + 4, (uint16_t)(transport_length + size));
        } else {
            // Each segment gets the next identification, as the kernel's segmentation gives them.
            store16(segment + 2, (uint16_t)(headers + size));
            store16(segment + 4, (uint16_t)(identification + index));
            store16(segment + 10, 0);
            store16(segment + 10, checksum_fold(checksum_add(0, segment, ip_length)));
        }
        transport_checksum(segment, ip_length, transport_length + size, ipv6, udp ? PROTOCOL_UDP : PROTOCOL_TCP);
        lengths[index] = (uint32_t)(headers + size);
    }
    return (int)count;
}

// The IP header of a packet that may join a coalesced super-packet: IPv4 without options or fragmentation, or IPv6
// without extension headers, carrying `protocol`, its length field matching `length`. Sets the header's length.
static int plain_ip_header(const uint8_t *packet, size_t length, uint8_t protocol, size_t *ip_length) {
    if (length < 28) {
        return 0;
    }
    if (packet[0] >> 4 == 6) {
        *ip_length = 40;
        return length >= 48 && packet[6] == protocol && (size_t)load16(packet + 4) + 40 == length;
    }
    *ip_length = 20;
    return packet[0] == 0x45 && packet[9] == protocol && load16(packet + 2) == length &&
           (load16(packet + 6) & 0x3FFF) == 0;
}

// Whether the transport checksum of a whole packet verifies. wireguard-go checks it too: the kernel will not check
// a super-packet we hand over as partially checksummed, so a corrupted segment must not hide in one. The AEAD does
// not make this check redundant: it proves only that the peer sealed these bytes, and a packet the peer forwarded
// (a gateway passes on a resource's packets; routers do not check transport checksums) may have been corrupted
// before that. The transport checksum is the one end-to-end check such a packet has.
static int checksum_verifies(const uint8_t *packet, size_t length, size_t ip_length, uint8_t protocol) {
    size_t transport = length - ip_length;
    return checksum_fold(checksum_add(pseudo_header_sum(packet, transport, ip_length == 40, protocol),
                                      packet + ip_length, transport)) == 0;
}

// A TCP segment that may join a coalesced super-packet: a plain IP header; only ACK and PSH set; a payload; a
// checksum that verifies.
static int tcp_coalescable(const uint8_t *packet, size_t length, size_t *ip_length, size_t *tcp_length) {
    if (length < 40 || !plain_ip_header(packet, length, PROTOCOL_TCP, ip_length)) {
        return 0;
    }
    const uint8_t *tcp = packet + *ip_length;
    *tcp_length = (size_t)(tcp[12] >> 4) * 4;
    if (*tcp_length < 20 || *ip_length + *tcp_length >= length || (tcp[13] & ~(0x10 | 0x08)) != 0 ||
        !(tcp[13] & 0x10)) {
        return 0;
    }
    return checksum_verifies(packet, length, *ip_length, PROTOCOL_TCP);
}

// A UDP datagram that may join a coalesced super-packet: a plain IP header, a UDP length that matches, a payload
// and a checksum that verifies (an IPv4 datagram without one stays on its own).
static int udp_coalescable(const uint8_t *packet, size_t length, size_t *ip_length) {
    if (!plain_ip_header(packet, length, PROTOCOL_UDP, ip_length)) {
        return 0;
    }
    const uint8_t *udp = packet + *ip_length;
    if ((size_t)load16(udp + 4) != length - *ip_length || length - *ip_length <= UDP_HEADER_LENGTH ||
        load16(udp + 6) == 0) {
        return 0;
    }
    return checksum_verifies(packet, length, *ip_length, PROTOCOL_UDP);
}

// Whether `next`'s IP header matches `first`'s in everything the kernel's GRO compares: IPv6 version, traffic class
// and flow label, next header, hop limit and addresses; IPv4 TOS/ECN, DF, TTL and addresses.
static int same_ip_flow(const uint8_t *first, const uint8_t *next, size_t ip_length) {
    if (ip_length == 40) {
        return memcmp(first, next, 4) == 0 && memcmp(first + 6, next + 6, 34) == 0;
    }
    return first[1] == next[1] && first[6] == next[6] && first[8] == next[8] && memcmp(first + 12, next + 12, 8) == 0;
}

// Whether `next` continues `first`'s TCP flow right after `expected_sequence`, with identical headers otherwise.
static int tcp_continues(const uint8_t *first, const uint8_t *next, size_t ip_length, size_t tcp_length,
                         uint32_t expected_sequence) {
    const uint8_t *a = first + ip_length, *b = next + ip_length;
    uint32_t sequence = (uint32_t)load16(b + 4) << 16 | load16(b + 6);
    if (sequence != expected_sequence || (size_t)(b[12] >> 4) * 4 != tcp_length ||
        !same_ip_flow(first, next, ip_length)) {
        return 0;
    }
    // Ports, acknowledgment, window, and every option byte (timestamps included), as Linux GRO requires.
    return memcmp(a, b, 4) == 0 && memcmp(a + 8, b + 8, 4) == 0 && memcmp(a + 14, b + 14, 2) == 0 &&
           memcmp(a + 20, b + 20, tcp_length - 20) == 0;
}

// Writes packets[index] on its own, behind a zeroed virtio-net header in its headroom. Returns 0 or -errno.
static int write_plain(int fd, uint8_t *packet, size_t length) {
    memset(packet - FZ_VNET_HEADER_LENGTH, 0, FZ_VNET_HEADER_LENGTH);
    return write(fd, packet - FZ_VNET_HEADER_LENGTH, length + FZ_VNET_HEADER_LENGTH) < 0 ? -errno : 0;
}

// How many packets from `index` form one TCP run (at least 1); builds the super-packet in `scratch` (behind room for
// the header) when there are several, and sets its total length and header.
static unsigned int tcp_run(uint8_t *const *packets, const uint32_t *lengths, unsigned int index, unsigned int count,
                            unsigned int max_segments, uint8_t *scratch, size_t scratch_capacity,
                            struct virtio_header *header, size_t *total_length) {
    uint8_t *first = packets[index];
    size_t first_length = lengths[index], ip_length = 0, tcp_length = 0;
    if (!tcp_coalescable(first, first_length, &ip_length, &tcp_length)) {
        return 1;
    }
    size_t headers = ip_length + tcp_length;
    size_t mss = first_length - headers;
    uint32_t next_sequence =
        ((uint32_t)load16(first + ip_length + 4) << 16 | load16(first + ip_length + 6)) + (uint32_t)mss;
    int last = (first[ip_length + 13] & 0x08) != 0;  // PSH ends a run
    unsigned int end = index + 1;
    size_t total = first_length;
    while (!last && end < count && end - index < max_segments) {
        uint8_t *next = packets[end];
        size_t next_length = lengths[end], next_ip = 0, next_tcp = 0;
        if (!tcp_coalescable(next, next_length, &next_ip, &next_tcp) || next_ip != ip_length ||
            !tcp_continues(first, next, ip_length, tcp_length, next_sequence)) {
            break;
        }
        size_t payload = next_length - headers;
        if (payload > mss || total + payload > 65535 || FZ_VNET_HEADER_LENGTH + total + payload > scratch_capacity) {
            break;
        }
        if (end == index + 1) {
            memcpy(scratch + FZ_VNET_HEADER_LENGTH, first, first_length);
        }
        memcpy(scratch + FZ_VNET_HEADER_LENGTH + total, next + headers, payload);
        total += payload;
        next_sequence += (uint32_t)payload;
        last = payload < mss || (next[ip_length + 13] & 0x08) != 0;
        if (next[ip_length + 13] & 0x08) {
            scratch[FZ_VNET_HEADER_LENGTH + ip_length + 13] |= 0x08;
        }
        end++;
    }
    *header = (struct virtio_header){
        .flags = VNET_NEEDS_CHECKSUM,
        .gso_type = ip_length == 40 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4,
        .header_length = (uint16_t)headers,
        .gso_size = (uint16_t)mss,
        .checksum_start = (uint16_t)ip_length,
        .checksum_offset = 16,
    };
    *total_length = total;
    return end - index;
}

// How many packets from `index` form one UDP run (at least 1): datagrams of one flow, all as long as the first but
// the last, which may be shorter (what UDP GSO segments back into). Builds the super-packet as tcp_run does.
static unsigned int udp_run(uint8_t *const *packets, const uint32_t *lengths, unsigned int index, unsigned int count,
                            unsigned int max_segments, uint8_t *scratch, size_t scratch_capacity,
                            struct virtio_header *header, size_t *total_length) {
    uint8_t *first = packets[index];
    size_t first_length = lengths[index], ip_length = 0;
    if (!udp_coalescable(first, first_length, &ip_length)) {
        return 1;
    }
    size_t headers = ip_length + UDP_HEADER_LENGTH;
    size_t size = first_length - headers;
    unsigned int end = index + 1;
    size_t total = first_length;
    int last = 0;
    while (!last && end < count && end - index < max_segments) {
        uint8_t *next = packets[end];
        size_t next_length = lengths[end], next_ip = 0;
        if (!udp_coalescable(next, next_length, &next_ip) || next_ip != ip_length ||
            !same_ip_flow(first, next, ip_length) || memcmp(first + ip_length, next + ip_length, 4) != 0) {
            break;
        }
        size_t payload = next_length - headers;
        if (payload > size || total + payload > 65535 || FZ_VNET_HEADER_LENGTH + total + payload > scratch_capacity) {
            break;
        }
        if (end == index + 1) {
            memcpy(scratch + FZ_VNET_HEADER_LENGTH, first, first_length);
        }
        memcpy(scratch + FZ_VNET_HEADER_LENGTH + total, next + headers, payload);
        total += payload;
        last = payload < size;
        end++;
    }
    if (end > index + 1) {
        store16(scratch + FZ_VNET_HEADER_LENGTH + ip_length + 4, (uint16_t)(total - ip_length));
    }
    *header = (struct virtio_header){
        .flags = VNET_NEEDS_CHECKSUM,
        .gso_type = VNET_GSO_UDP_L4,
        .header_length = (uint16_t)headers,
        .gso_size = (uint16_t)size,
        .checksum_start = (uint16_t)ip_length,
        .checksum_offset = 6,
    };
    *total_length = total;
    return end - index;
}

// Completes a super-packet built in `scratch`: the header in front, the IP length fields and IPv4 header checksum,
// and in the transport checksum field the pseudo-header sum over the whole length (CHECKSUM_PARTIAL: the kernel
// folds in the rest for each segment it cuts).
static void finish_super_packet(uint8_t *scratch, const struct virtio_header *header, size_t total, uint8_t protocol) {
    uint8_t *packet = scratch + FZ_VNET_HEADER_LENGTH;
    size_t ip_length = header->checksum_start;
    memcpy(scratch, header, sizeof(*header));
    if (ip_length == 40) {
        store16(packet + 4, (uint16_t)(total - 40));
    } else {
        store16(packet + 2, (uint16_t)total);
        store16(packet + 10, 0);
        store16(packet + 10, checksum_fold(checksum_add(0, packet, 20)));
    }
    uint32_t pseudo = pseudo_header_sum(packet, total - ip_length, ip_length == 40, protocol);
    store16(packet + ip_length + header->checksum_offset, (uint16_t)~checksum_fold(pseudo));
}

void fz_tun_write_packets(int fd, uint8_t *const *packets, const uint32_t *lengths, unsigned int count,
                          uint8_t *scratch, size_t scratch_capacity, fz_tun_coalescing *coalescing,
                          fz_tun_write_result *result) {
    memset(result, 0, sizeof(*result));
    unsigned int max_segments = coalescing->max_segments > 1 ? coalescing->max_segments : 1;
    unsigned int index = 0;
    while (index < count) {
        struct virtio_header header;
        size_t total = 0;
        unsigned int run = 1;
        uint8_t protocol = 0;
        if (coalescing->tcp) {
            run = tcp_run(packets, lengths, index, count, max_segments, scratch, scratch_capacity, &header, &total);
            protocol = PROTOCOL_TCP;
        }
        if (run == 1 && coalescing->udp) {
            run = udp_run(packets, lengths, index, count, max_segments, scratch, scratch_capacity, &header, &total);
            protocol = PROTOCOL_UDP;
        }
        if (run == 1) {
            result->packets_not_written += write_plain(fd, packets[index], lengths[index]) < 0;
            index++;
            continue;
        }
        finish_super_packet(scratch, &header, total, protocol);
        if (write(fd, scratch, FZ_VNET_HEADER_LENGTH + total) >= 0) {
            result->super_packets += 1;
        } else if (errno == EINVAL) {
            // Some kernels refuse GSO writes the device otherwise takes; Firezone stops coalescing for the session
            // on EINVAL and lets the endpoints resend (rust/libs/connlib/tun/src/linux.rs). Here that kind of
            // coalescing stops for the device, and the run goes out packet by packet: nothing is lost.
            result->refused_super_packets += 1;
            if (protocol == PROTOCOL_TCP) {
                coalescing->tcp = 0;
            } else {
                coalescing->udp = 0;
            }
            for (unsigned int member = index; member < index + run; member++) {
                result->packets_not_written += write_plain(fd, packets[member], lengths[member]) < 0;
            }
        } else {
            result->packets_not_written += run;
        }
        index += run;
    }
}
