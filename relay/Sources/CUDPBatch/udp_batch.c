// Batched UDP and epoll for the relay's IO loop: the calls Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "udp_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FZ_MAX_BATCH = 64 };

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
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    if (receive_buffer > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    if (send_buffer > 0) {
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
    memset(messages, 0, sizeof(struct mmsghdr) * count);
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = datagrams[i].bytes;
        vectors[i].iov_len = datagrams[i].capacity;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &addresses[i];
        messages[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
    }
    int received = recvmmsg(fd, messages, count, MSG_DONTWAIT, NULL);
    if (received < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    }
    for (int i = 0; i < received; i++) {
        datagrams[i].length = messages[i].msg_len;
        datagrams[i].truncated = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        read_address(&addresses[i], &datagrams[i]);
    }
    return received;
}

int fz_udp_send_batch(int fd, const fz_datagram *datagrams, unsigned int count, unsigned int *failed) {
    *failed = 0;
    unsigned int done = 0;
    while (done < count) {
        unsigned int batch = count - done > FZ_MAX_BATCH ? FZ_MAX_BATCH : count - done;
        struct mmsghdr messages[FZ_MAX_BATCH];
        struct iovec vectors[FZ_MAX_BATCH];
        struct sockaddr_storage addresses[FZ_MAX_BATCH];
        memset(messages, 0, sizeof(struct mmsghdr) * batch);
        for (unsigned int i = 0; i < batch; i++) {
            const fz_datagram *datagram = &datagrams[done + i];
            vectors[i].iov_base = datagram->bytes;
            vectors[i].iov_len = datagram->length;
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
            messages[i].msg_hdr.msg_name = &addresses[i];
            messages[i].msg_hdr.msg_namelen = fill_address(datagram, &addresses[i]);
        }
        int sent = sendmmsg(fd, messages, batch, 0);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                return done > 0 ? (int)done : -errno;
            }
            // The first datagram's destination was refused (unreachable, permission): skip it, keep the rest.
            *failed += 1;
            done += 1;
            continue;
        }
        done += (unsigned int)sent;
    }
    return (int)done;
}

int fz_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int fz_epoll_add(int epoll_fd, int fd, uint64_t token) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int fz_epoll_remove(int epoll_fd, int fd) {
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int fz_epoll_wait(int epoll_fd, uint64_t *tokens, unsigned int capacity, int timeout_ms) {
    struct epoll_event events[FZ_MAX_BATCH];
    if (capacity > FZ_MAX_BATCH) {
        capacity = FZ_MAX_BATCH;
    }
    int ready = epoll_wait(epoll_fd, events, (int)capacity, timeout_ms);
    if (ready < 0) {
        return -errno;
    }
    for (int i = 0; i < ready; i++) {
        tokens[i] = events[i].data.u64;
    }
    return ready;
}

int fz_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void fz_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

void fz_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof(value));
    (void)ignored;
}
