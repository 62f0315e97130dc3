// Batched UDP with GSO and GRO: the calls Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "udp_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FZ_MAX_BATCH = 64 };

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
// The kernel's UDP_MAX_SEGMENTS, and the largest UDP payload one GSO send may carry (65535 minus the IPv4 and
// UDP headers; IPv6 allows a little more, this keeps one limit for both).
enum { FZ_GSO_MAX_SEGMENTS = 64, FZ_GSO_MAX_BYTES = 65507 };

static socklen_t fill_address(const fz_datagram *datagram, struct sockaddr_storage *storage) {
    memset(storage, 0, sizeof(*storage));
    if (datagram->family == 4) {
        struct sockaddr_in *address = (struct sockaddr_in *)storage;
        address->sin_family = AF_INET;
        address->sin_port = htons(datagram->port);
        memcpy(&address->sin_addr, datagram->address, 4);
        return sizeof(*address);
    }
    struct sockaddr_in6 *address = (struct sockaddr_in6 *)storage;
    address->sin6_family = AF_INET6;
    address->sin6_port = htons(datagram->port);
    memcpy(&address->sin6_addr, datagram->address, 16);
    return sizeof(*address);
}

/// Room for the control messages of one send: a GSO segment size and a source address.
enum { FZ_SEND_CONTROL_SPACE = CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) };
typedef union {
    char buffer[FZ_SEND_CONTROL_SPACE];
    struct cmsghdr align;
} fz_send_control;

/// Room for the control messages of one receive: a GRO segment size and the local address.
enum { FZ_RECEIVE_CONTROL_SPACE = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) };

/// Whether the datagram's source, if it has one, can go with its destination: the same family.
static int valid_source(const fz_datagram *datagram) {
    return datagram->local_family == 0 || datagram->local_family == datagram->family;
}

/// Points `header` at `control` holding a UDP_SEGMENT of `segment` bytes when `segment` is not 0 and the
/// datagram's source address when it has one; no control messages at all when neither.
static void fill_control(struct msghdr *header, fz_send_control *control, const fz_datagram *datagram,
                         uint16_t segment) {
    size_t used = 0;
    if (segment > 0) {
        struct cmsghdr *message = (struct cmsghdr *)control->buffer;
        message->cmsg_level = SOL_UDP;
        message->cmsg_type = UDP_SEGMENT;
        message->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        memcpy(CMSG_DATA(message), &segment, sizeof(segment));
        used += CMSG_SPACE(sizeof(uint16_t));
    }
    if (datagram->local_family == 4) {
        // ip(7): ipi_spec_dst is the source address of the datagram; ifindex 0 lets the route pick the device.
        struct cmsghdr *message = (struct cmsghdr *)(control->buffer + used);
        struct in_pktinfo info;
        memset(&info, 0, sizeof(info));
        memcpy(&info.ipi_spec_dst, datagram->local_address, 4);
        message->cmsg_level = IPPROTO_IP;
        message->cmsg_type = IP_PKTINFO;
        message->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(message), &info, sizeof(info));
        used += CMSG_SPACE(sizeof(info));
    } else if (datagram->local_family == 6) {
        // RFC 3542 §6.1: ipi6_addr is the source address; interface 0 lets the route pick it.
        struct cmsghdr *message = (struct cmsghdr *)(control->buffer + used);
        struct in6_pktinfo info;
        memset(&info, 0, sizeof(info));
        memcpy(&info.ipi6_addr, datagram->local_address, 16);
        message->cmsg_level = IPPROTO_IPV6;
        message->cmsg_type = IPV6_PKTINFO;
        message->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(message), &info, sizeof(info));
        used += CMSG_SPACE(sizeof(info));
    }
    header->msg_control = used > 0 ? control->buffer : NULL;
    header->msg_controllen = used;
}

static void read_address(const struct sockaddr_storage *storage, fz_datagram *datagram) {
    if (storage->ss_family == AF_INET) {
        const struct sockaddr_in *address = (const struct sockaddr_in *)storage;
        datagram->family = 4;
        datagram->port = ntohs(address->sin_port);
        memset(datagram->address, 0, 16);
        memcpy(datagram->address, &address->sin_addr, 4);
    } else {
        const struct sockaddr_in6 *address = (const struct sockaddr_in6 *)storage;
        datagram->family = 6;
        datagram->port = ntohs(address->sin6_port);
        memcpy(datagram->address, &address->sin6_addr, 16);
    }
}

int fz_udp_bind(uint8_t family, const uint8_t *address, uint16_t port, int receive_buffer, int send_buffer) {
    int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
        goto fail;
    }
    // SO_RCVBUF and SO_SNDBUF are capped at net.core.[rw]mem_max (about 208 KiB by default: some 90 full-size
    // datagrams, which a burst overruns while the loop is descheduled). With CAP_NET_ADMIN the *FORCE variants
    // set the size asked for; without it, the capped size is the best there is.
    if (receive_buffer > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof(receive_buffer)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    if (send_buffer > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &send_buffer, sizeof(send_buffer)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof(send_buffer));
    }
    fz_datagram local = {.family = family, .port = port};
    memcpy(local.address, address, family == 4 ? 4 : 16);
    struct sockaddr_storage storage;
    socklen_t length = fill_address(&local, &storage);
    if (bind(fd, (struct sockaddr *)&storage, length) < 0) {
        goto fail;
    }
    return fd;
fail:;
    int error = errno;
    close(fd);
    return -error;
}

int fz_udp_enable_gro(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0 ? -errno : 0;
}

/// The bytes a datagram puts on the wire: its prefix, then its bytes.
static size_t wire_length(const fz_datagram *datagram) {
    return (size_t)datagram->prefix_length + datagram->length;
}

/// Points one or two iovecs at the datagram's prefix and bytes; returns how many.
static unsigned int fill_vectors(const fz_datagram *datagram, struct iovec *vectors) {
    unsigned int count = 0;
    if (datagram->prefix_length > 0) {
        // sendmsg(2) only reads from iov_base; struct iovec has no const.
        vectors[count].iov_base = (void *)datagram->prefix;
        vectors[count].iov_len = datagram->prefix_length;
        count += 1;
    }
    vectors[count].iov_base = datagram->bytes;
    vectors[count].iov_len = datagram->length;
    return count + 1;
}

int fz_udp_enable_local_address(int fd, uint8_t family) {
    int one = 1;
    int result = family == 4 ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
                             : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
    return result < 0 ? -errno : 0;
}

int fz_udp_local_port(int fd) {
    struct sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    if (getsockname(fd, (struct sockaddr *)&storage, &length) < 0) {
        return -errno;
    }
    fz_datagram datagram;
    read_address(&storage, &datagram);
    return datagram.port;
}

int fz_udp_receive_batch(int fd, fz_datagram *datagrams, unsigned int count) {
    if (count > FZ_MAX_BATCH) {
        count = FZ_MAX_BATCH;
    }
    struct mmsghdr messages[FZ_MAX_BATCH];
    struct iovec vectors[FZ_MAX_BATCH];
    struct sockaddr_storage addresses[FZ_MAX_BATCH];
    union {
        char buffer[FZ_RECEIVE_CONTROL_SPACE];
        struct cmsghdr align;
    } controls[FZ_MAX_BATCH];
    memset(messages, 0, sizeof(struct mmsghdr) * count);
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = datagrams[i].bytes;
        vectors[i].iov_len = datagrams[i].capacity;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &addresses[i];
        messages[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
        messages[i].msg_hdr.msg_control = controls[i].buffer;
        messages[i].msg_hdr.msg_controllen = sizeof(controls[i].buffer);
    }
    int received = recvmmsg(fd, messages, count, MSG_DONTWAIT, NULL);
    if (received < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    }
    for (int i = 0; i < received; i++) {
        struct msghdr *header = &messages[i].msg_hdr;
        datagrams[i].length = messages[i].msg_len;
        datagrams[i].truncated = (header->msg_flags & MSG_TRUNC) != 0;
        datagrams[i].segment_size = 0;
        datagrams[i].local_family = 0;
        memset(datagrams[i].local_address, 0, 16);
        for (struct cmsghdr *control = CMSG_FIRSTHDR(header); control != NULL; control = CMSG_NXTHDR(header, control)) {
            if (control->cmsg_level == SOL_UDP && control->cmsg_type == UDP_GRO) {
                int segment;
                memcpy(&segment, CMSG_DATA(control), sizeof(segment));
                // A single datagram may come with its own length as the segment size: nothing to split.
                datagrams[i].segment_size = (uint32_t)segment < datagrams[i].length ? (uint16_t)segment : 0;
            } else if (control->cmsg_level == IPPROTO_IP && control->cmsg_type == IP_PKTINFO) {
                // ip(7): ipi_addr is the destination address in the packet's header.
                struct in_pktinfo info;
                memcpy(&info, CMSG_DATA(control), sizeof(info));
                datagrams[i].local_family = 4;
                memcpy(datagrams[i].local_address, &info.ipi_addr, 4);
            } else if (control->cmsg_level == IPPROTO_IPV6 && control->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo info;
                memcpy(&info, CMSG_DATA(control), sizeof(info));
                datagrams[i].local_family = 6;
                memcpy(datagrams[i].local_address, &info.ipi6_addr, 16);
            }
        }
        read_address(&addresses[i], &datagrams[i]);
    }
    return received;
}

int fz_udp_send_batch(int fd, const fz_datagram *datagrams, unsigned int count, unsigned int *failed) {
    *failed = 0;
    unsigned int done = 0;
    while (done < count) {
        if (!valid_source(&datagrams[done])) {
            *failed += 1;
            done += 1;
            continue;
        }
        // A round is the run of datagrams up to the next one with an invalid source, at most FZ_MAX_BATCH.
        unsigned int batch = 0;
        while (done + batch < count && batch < FZ_MAX_BATCH && valid_source(&datagrams[done + batch])) {
            batch += 1;
        }
        struct mmsghdr messages[FZ_MAX_BATCH];
        struct iovec vectors[2 * FZ_MAX_BATCH];
        struct sockaddr_storage addresses[FZ_MAX_BATCH];
        fz_send_control controls[FZ_MAX_BATCH];
        memset(messages, 0, sizeof(struct mmsghdr) * batch);
        for (unsigned int i = 0; i < batch; i++) {
            const fz_datagram *datagram = &datagrams[done + i];
            messages[i].msg_hdr.msg_iov = &vectors[2 * i];
            messages[i].msg_hdr.msg_iovlen = fill_vectors(datagram, &vectors[2 * i]);
            messages[i].msg_hdr.msg_name = &addresses[i];
            messages[i].msg_hdr.msg_namelen = fill_address(datagram, &addresses[i]);
            fill_control(&messages[i].msg_hdr, &controls[i], datagram, 0);
        }
        int sent = sendmmsg(fd, messages, batch, 0);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                return done > 0 ? (int)done : -errno;
            }
            // The first datagram's destination or source was refused (unreachable, permission, a source address
            // that is not the host's): skip it, keep the rest.
            *failed += 1;
            done += 1;
            continue;
        }
        done += (unsigned int)sent;
    }
    return (int)done;
}

/// Whether two datagrams go between the same pair of addresses: one GSO send can carry both.
static int same_addresses(const fz_datagram *a, const fz_datagram *b) {
    return a->family == b->family && a->port == b->port &&
           memcmp(a->address, b->address, a->family == 4 ? 4 : 16) == 0 && a->local_family == b->local_family &&
           memcmp(a->local_address, b->local_address, a->local_family == 4 ? 4 : 16) == 0;
}

/// Datagrams with an invalid source first (they are refused before anything is sent), then by destination, then
/// by source.
static int send_order(const fz_datagram *a, const fz_datagram *b) {
    if (valid_source(a) != valid_source(b)) {
        return valid_source(a) ? 1 : -1;
    }
    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    int addresses = memcmp(a->address, b->address, a->family == 4 ? 4 : 16);
    if (addresses != 0) {
        return addresses;
    }
    if (a->port != b->port) {
        return a->port < b->port ? -1 : 1;
    }
    if (a->local_family != b->local_family) {
        return a->local_family < b->local_family ? -1 : 1;
    }
    return memcmp(a->local_address, b->local_address, 16);
}

/// How many datagrams from `first` one GSO send can carry: same destination and source, all as long as the first
/// but the last, which may be shorter.
static unsigned int run_length(const fz_datagram *first, unsigned int available) {
    unsigned int length = 1;
    size_t segment = wire_length(first);
    size_t bytes = segment;
    while (length < available && length < FZ_GSO_MAX_SEGMENTS) {
        const fz_datagram *next = first + length;
        size_t next_length = wire_length(next);
        if (!same_addresses(first, next) || next_length == 0 || next_length > segment ||
            bytes + next_length > FZ_GSO_MAX_BYTES) {
            break;
        }
        bytes += next_length;
        length += 1;
        if (next_length < segment) {
            break;
        }
    }
    return length;
}

int fz_udp_send_coalesced(int fd, fz_datagram *datagrams, unsigned int count, unsigned int *failed,
                          uint8_t *gso_disabled) {
    *failed = 0;
    if (*gso_disabled) {
        return fz_udp_send_batch(fd, datagrams, count, failed);
    }
    // Stable insertion sort by destination and source: batches are small (tens), and it allocates nothing.
    for (unsigned int i = 1; i < count; i++) {
        fz_datagram moving = datagrams[i];
        unsigned int j = i;
        while (j > 0 && send_order(&datagrams[j - 1], &moving) > 0) {
            datagrams[j] = datagrams[j - 1];
            j--;
        }
        datagrams[j] = moving;
    }

    unsigned int done = 0;
    while (done < count && !valid_source(&datagrams[done])) {
        *failed += 1;
        done += 1;
    }
    while (done < count) {
        struct mmsghdr messages[FZ_MAX_BATCH];
        struct iovec vectors[2 * FZ_MAX_BATCH];
        struct sockaddr_storage addresses[FZ_MAX_BATCH];
        fz_send_control controls[FZ_MAX_BATCH];
        unsigned int runs[FZ_MAX_BATCH];
        unsigned int messageCount = 0;
        unsigned int vectorCount = 0;
        unsigned int next = done;
        memset(messages, 0, sizeof(messages));
        // Each datagram takes at most two iovecs (prefix and bytes): at most FZ_MAX_BATCH datagrams per round.
        unsigned int datagramCount = 0;
        while (next < count && messageCount < FZ_MAX_BATCH && datagramCount < FZ_MAX_BATCH) {
            unsigned int available = count - next;
            if (available > FZ_MAX_BATCH - datagramCount) {
                available = FZ_MAX_BATCH - datagramCount;
            }
            unsigned int run = run_length(&datagrams[next], available);
            struct msghdr *header = &messages[messageCount].msg_hdr;
            header->msg_iov = &vectors[vectorCount];
            unsigned int used = 0;
            for (unsigned int k = 0; k < run; k++) {
                used += fill_vectors(&datagrams[next + k], &vectors[vectorCount + used]);
            }
            header->msg_iovlen = used;
            header->msg_name = &addresses[messageCount];
            header->msg_namelen = fill_address(&datagrams[next], &addresses[messageCount]);
            uint16_t segment = run > 1 ? (uint16_t)wire_length(&datagrams[next]) : 0;
            fill_control(header, &controls[messageCount], &datagrams[next], segment);
            runs[messageCount] = run;
            messageCount += 1;
            vectorCount += used;
            datagramCount += run;
            next += run;
        }

        int sent = sendmmsg(fd, messages, messageCount, 0);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                return done > 0 ? (int)done : -errno;
            }
            unsigned int run = runs[0];
            if (errno == EIO && run > 1) {
                // The route cannot offload the segments' checksums: GSO is unusable here. Send this run plainly,
                // and everything after it too.
                *gso_disabled = 1;
                unsigned int plainFailed = 0;
                int plain = fz_udp_send_batch(fd, &datagrams[done], count - done, &plainFailed);
                *failed += plainFailed;
                return plain < 0 ? (done > 0 ? (int)done : plain) : (int)(done + (unsigned int)plain);
            }
            // The first run's destination or source was refused (unreachable, permission, a source address that is
            // not the host's): skip it, keep the rest.
            *failed += run;
            done += run;
            continue;
        }
        for (int m = 0; m < sent; m++) {
            done += runs[m];
        }
    }
    return (int)done;
}
