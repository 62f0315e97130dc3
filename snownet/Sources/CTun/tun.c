// TUN devices and termination signals for wireguard-peer: the calls Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

int fz_tun_write(int fd, const uint8_t *packet, size_t length) {
    return write(fd, packet, length) < 0 ? -errno : 0;
}

int fz_termination_signalfd(void) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0) {
        return -errno;
    }
    int fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void fz_unix_time(int64_t *seconds, int64_t *nanoseconds) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    *seconds = now.tv_sec;
    *nanoseconds = now.tv_nsec;
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

// RFC 1071 one's complement sum, not yet folded.
static uint64_t checksum_add(uint64_t sum, const uint8_t *data, size_t length) {
    while (length >= 2) {
        sum += (uint32_t)data[0] << 8 | data[1];
        data += 2;
        length -= 2;
    }
    if (length) {
        sum += (uint32_t)data[0] << 8;
    }
    return sum;
}

static uint16_t checksum_fold(uint64_t sum) {
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

// The TCP checksum of a whole segment: pseudo-header (RFC 793 / RFC 8200 §8.1) plus the TCP header and payload.
static void tcp_checksum(uint8_t *packet, size_t ip_length, size_t tcp_length, int ipv6) {
    uint64_t sum = 0;
    if (ipv6) {
        sum = checksum_add(sum, packet + 8, 32);
    } else {
        sum = checksum_add(sum, packet + 12, 8);
    }
    sum += 6 + tcp_length;
    uint8_t *tcp = packet + ip_length;
    store16(tcp + 16, 0);
    sum = checksum_add(sum, tcp, tcp_length);
    store16(tcp + 16, checksum_fold(sum));
}

struct virtio_header {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t header_length;
    uint16_t gso_size;
    uint16_t checksum_start;
    uint16_t checksum_offset;
};

int fz_tun_read_segments(int fd, uint8_t *scratch, size_t scratch_capacity, uint8_t *const *segments,
                         size_t capacity, uint32_t *lengths, unsigned int max_segments) {
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
        if (packet_length > capacity) {
            return -EINVAL;
        }
        if (header.flags & 1) {  // VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the pseudo-header sum.
            size_t start = header.checksum_start, field = start + header.checksum_offset;
            if (field + 2 > packet_length) {
                return -EINVAL;
            }
            store16(packet + field, checksum_fold(checksum_add(0, packet + start, packet_length - start)));
        }
        memcpy(segments[0], packet, packet_length);
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
    if (count > max_segments || headers + mss > capacity) {
        return -EINVAL;
    }
    uint32_t sequence = (uint32_t)load16(packet + ip_length + 4) << 16 | load16(packet + ip_length + 6);
    uint16_t identification = load16(packet + 4);
    uint8_t flags = packet[ip_length + 13];
    for (size_t index = 0; index < count; index++) {
        size_t offset = index * mss;
        size_t size = payload - offset < mss ? payload - offset : mss;
        uint8_t *segment = segments[index];
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
