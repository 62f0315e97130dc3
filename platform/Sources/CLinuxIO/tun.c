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
    request.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int header_length = FZ_VNET_HEADER_LENGTH;
    if (ioctl(fd, TUNSETIFF, &request) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &header_length) < 0 ||
        ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

// RFC 1071 one's complement sum of `data`, folded to 16 bits, in network byte order (not complemented). Sums
// native-endian 32-bit words and swaps at the end (RFC 1071 §2(B): the sum is byte-order independent).
static uint32_t checksum_add(uint32_t sum, const uint8_t *data, size_t length) {
    uint64_t total = 0;
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

static void store16(uint8_t *at, uint16_t value);
static uint16_t load16(const uint8_t *at);

static void store16(uint8_t *at, uint16_t value) {
    at[0] = value >> 8;
    at[1] = value & 0xFF;
}

static uint16_t load16(const uint8_t *at) {
    return (uint16_t)(at[0] << 8 | at[1]);
}

// The pseudo-header sum of a TCP segment (RFC 793 / RFC 8200 §8.1), not complemented.
static uint32_t pseudo_header_sum(const uint8_t *packet, size_t tcp_length, int ipv6) {
    uint32_t sum = ipv6 ? checksum_add(0, packet + 8, 32) : checksum_add(0, packet + 12, 8);
    sum += 6 + (uint32_t)tcp_length;
    return (sum & 0xFFFF) + (sum >> 16);
}

// The TCP checksum of a whole segment: pseudo-header plus the TCP header and payload.
static void tcp_checksum(uint8_t *packet, size_t ip_length, size_t tcp_length, int ipv6) {
    uint8_t *tcp = packet + ip_length;
    store16(tcp + 16, 0);
    store16(tcp + 16, checksum_fold(checksum_add(pseudo_header_sum(packet, tcp_length, ipv6), tcp, tcp_length)));
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
    uint8_t gso_type = header.gso_type & 0x7F;  // without VIRTIO_NET_HDR_GSO_ECN

    if (gso_type == 0) {
        *stride = headroom + round_up(packet_length, padding_multiple) + tailroom;
        if (*stride > region_capacity) {
            return -EINVAL;
        }
        if (header.flags & 1) {  // VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the pseudo-header sum.
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
    if (gso_type != 1 && gso_type != 4) {  // VIRTIO_NET_HDR_GSO_TCPV4, _TCPV6
        return -EINVAL;
    }
    int ipv6 = gso_type == 4;
    size_t ip_length = ipv6 ? 40 : (size_t)(packet[0] & 0x0F) * 4;
    if ((ipv6 && (packet[0] >> 4) != 6) || (!ipv6 && ((packet[0] >> 4) != 4 || ip_length < 20)) ||
        packet_length < ip_length + 20) {
        return -EINVAL;
    }
    size_t tcp_length = (size_t)(packet[ip_length + 12] >> 4) * 4;
    size_t headers = ip_length + tcp_length;
    size_t mss = header.gso_size;
    if (tcp_length < 20 || packet_length < headers || mss == 0) {
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
    uint32_t sequence = (uint32_t)load16(packet + ip_length + 4) << 16 | load16(packet + ip_length + 6);
    uint16_t identification = load16(packet + 4);
    uint8_t flags = packet[ip_length + 13];
    for (size_t index = 0; index < count; index++) {
        size_t offset = index * mss;
        size_t size = payload - offset < mss ? payload - offset : mss;
        uint8_t *segment = region + index * *stride + headroom;
        memcpy(segment, packet, headers);
        memcpy(segment + headers, packet + headers + offset, size);
        uint8_t *tcp = segment + ip_length;
        uint32_t segment_sequence = sequence + (uint32_t)offset;
        store16(tcp + 4, segment_sequence >> 16);
        store16(tcp + 6, segment_sequence & 0xFFFF);
        uint8_t segment_flags = flags;
        if (index + 1 < count) {
            segment_flags &= ~(0x01 | 0x08);  // FIN and PSH only on the last segment
        }
        if (index > 0) {
            segment_flags &= ~0x80;  // CWR only on the first, as the kernel's own segmentation does
        }
        tcp[13] = segment_flags;
        if (ipv6) {
            store16(segment + 4, (uint16_t)(tcp_length + size));
        } else {
            store16(segment + 2, (uint16_t)(headers + size));
            store16(segment + 4, (uint16_t)(identification + index));
            store16(segment + 10, 0);
            store16(segment + 10, checksum_fold(checksum_add(0, segment, ip_length)));
        }
        tcp_checksum(segment, ip_length, tcp_length + size, ipv6);
        lengths[index] = (uint32_t)(headers + size);
    }
    return (int)count;
}

// A TCP segment that may join a coalesced super-packet: IPv4 without options or fragmentation, or IPv6 without
// extension headers; only ACK and PSH set; a payload; a checksum that verifies (wireguard-go checks it too: the
// kernel will not check a super-packet we mark as checksummed).
static int coalescable(const uint8_t *packet, size_t length, size_t *ip_length, size_t *tcp_length) {
    if (length < 40) {
        return 0;
    }
    int ipv6 = packet[0] >> 4 == 6;
    if (ipv6) {
        if (length < 60 || packet[6] != 6 || (size_t)load16(packet + 4) + 40 != length) {
            return 0;
        }
        *ip_length = 40;
    } else {
        if (packet[0] != 0x45 || packet[9] != 6 || load16(packet + 2) != length || (load16(packet + 6) & 0x3FFF) != 0) {
            return 0;
        }
        *ip_length = 20;
    }
    const uint8_t *tcp = packet + *ip_length;
    *tcp_length = (size_t)(tcp[12] >> 4) * 4;
    if (*tcp_length < 20 || *ip_length + *tcp_length >= length || (tcp[13] & ~(0x10 | 0x08)) != 0 || !(tcp[13] & 0x10)) {
        return 0;
    }
    size_t segment = length - *ip_length;
    return checksum_fold(checksum_add(pseudo_header_sum(packet, segment, ipv6), tcp, segment)) == 0;
}

// Whether `next` continues `first`'s flow right after `expected_sequence`, with identical headers otherwise.
static int continues(const uint8_t *first, const uint8_t *next, size_t ip_length, size_t tcp_length,
                     uint32_t expected_sequence) {
    const uint8_t *a = first + ip_length, *b = next + ip_length;
    uint32_t sequence = (uint32_t)load16(b + 4) << 16 | load16(b + 6);
    if (sequence != expected_sequence || (size_t)(b[12] >> 4) * 4 != tcp_length) {
        return 0;
    }
    if (ip_length == 40) {
        // Version, traffic class, flow label; next header and hop limit; addresses.
        if (memcmp(first, next, 4) != 0 || memcmp(first + 6, next + 6, 34) != 0) {
            return 0;
        }
    } else if (first[1] != next[1] || first[6] != next[6] || first[8] != next[8] || memcmp(first + 12, next + 12, 8) != 0) {
        return 0;  // TOS/ECN, DF, TTL, addresses
    }
    // Ports, acknowledgment, window, and every option byte (timestamps included), as Linux GRO requires.
    return memcmp(a, b, 4) == 0 && memcmp(a + 8, b + 8, 4) == 0 && memcmp(a + 14, b + 14, 2) == 0 &&
           memcmp(a + 20, b + 20, tcp_length - 20) == 0;
}

int fz_tun_write_packets(int fd, uint8_t *const *packets, const uint32_t *lengths, unsigned int count,
                         uint8_t *scratch, size_t scratch_capacity) {
    int failures = 0;
    unsigned int index = 0;
    while (index < count) {
        uint8_t *first = packets[index];
        size_t first_length = lengths[index], ip_length = 0, tcp_length = 0;
        unsigned int end = index + 1;
        size_t total = first_length;
        if (coalescable(first, first_length, &ip_length, &tcp_length)) {
            size_t headers = ip_length + tcp_length;
            size_t mss = first_length - headers;
            uint32_t next_sequence =
                ((uint32_t)load16(first + ip_length + 4) << 16 | load16(first + ip_length + 6)) + (uint32_t)mss;
            int last = (first[ip_length + 13] & 0x08) != 0;  // PSH ends a run
            while (!last && end < count && end - index < 64) {
                uint8_t *next = packets[end];
                size_t next_length = lengths[end], next_ip = 0, next_tcp = 0;
                if (!coalescable(next, next_length, &next_ip, &next_tcp) || next_ip != ip_length ||
                    !continues(first, next, ip_length, tcp_length, next_sequence)) {
                    break;
                }
                size_t payload = next_length - headers;
                if (payload > mss || total + payload > 65535 ||
                    FZ_VNET_HEADER_LENGTH + total + payload > scratch_capacity) {
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
            if (end > index + 1) {
                uint8_t *packet = scratch + FZ_VNET_HEADER_LENGTH;
                struct virtio_header header = {
                    .flags = 1,  // VIRTIO_NET_HDR_F_NEEDS_CSUM
                    .gso_type = ip_length == 40 ? 4 : 1,
                    .header_length = (uint16_t)headers,
                    .gso_size = (uint16_t)mss,
                    .checksum_start = (uint16_t)ip_length,
                    .checksum_offset = 16,
                };
                memcpy(scratch, &header, sizeof(header));
                if (ip_length == 40) {
                    store16(packet + 4, (uint16_t)(total - 40));
                } else {
                    store16(packet + 2, (uint16_t)total);
                    store16(packet + 10, 0);
                    store16(packet + 10, checksum_fold(checksum_add(0, packet, 20)));
                }
                // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the rest counts as verified.
                uint32_t pseudo = pseudo_header_sum(packet, total - ip_length, ip_length == 40);
                store16(packet + ip_length + 16, (uint16_t)~checksum_fold(pseudo));
                if (write(fd, scratch, FZ_VNET_HEADER_LENGTH + total) < 0) {
                    failures++;
                }
                index = end;
                continue;
            }
        }
        // A packet on its own, with a zeroed header in the headroom in front of it.
        memset(first - FZ_VNET_HEADER_LENGTH, 0, FZ_VNET_HEADER_LENGTH);
        if (write(fd, first - FZ_VNET_HEADER_LENGTH, first_length + FZ_VNET_HEADER_LENGTH) < 0) {
            failures++;
        }
        index++;
    }
    return failures;
}
