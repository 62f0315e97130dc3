#ifndef FIREZONE_UDP_BATCH_H
#define FIREZONE_UDP_BATCH_H

#include <stdint.h>

/// One datagram of a batch: where its bytes are, and the remote address (sender on receive, destination on send).
/// `family` is 4 or 6; IPv4 addresses use the first 4 bytes of `address`.
typedef struct fz_datagram {
    uint8_t *bytes;
    uint32_t capacity;
    uint32_t length;
    uint8_t address[16];
    uint16_t port;
    uint8_t family;
    uint8_t truncated;
    /// On receive with UDP GRO enabled: the length of each datagram the kernel coalesced into `bytes` (the last
    /// may be shorter), or 0 when `bytes` is one datagram.
    uint16_t segment_size;
    /// On send: `prefix_length` (0 to 4) bytes sent in front of `bytes`, such as a TURN channel data header, so
    /// that the payload need not move.
    uint8_t prefix_length;
    uint8_t prefix[4];
    /// Our side of the datagram, in the layout of `address`. On receive from a socket with
    /// fz_udp_enable_local_address: the address it was sent to. On send: the address to send from (IP_PKTINFO /
    /// IPV6_PKTINFO), which must be one of the host's and of the destination's family, else the datagram is
    /// refused and counted in `failed`. `local_family` 0 means none: the route picks the source.
    uint8_t local_family;
    uint8_t local_address[16];
} fz_datagram;

/// A non-blocking UDP socket bound to `address`:`port` (`family` 4 or 6; IPv6 sockets are IPv6-only).
/// Returns the descriptor or -errno.
int fz_udp_bind(uint8_t family, const uint8_t *address, uint16_t port, int receive_buffer, int send_buffer);

/// Asks the kernel to coalesce datagrams of one flow into one receive (UDP_GRO); `segment_size` then says how
/// to split them. Returns 0 or -errno.
int fz_udp_enable_gro(int fd);

/// Asks the kernel to report the local address each datagram arrives on (IP_PKTINFO / IPV6_RECVPKTINFO), in
/// `local_address` of each received datagram: a socket bound to the wildcard address learns which of the host's
/// addresses a sender talks to, and can answer from it. Returns 0 or -errno.
int fz_udp_enable_local_address(int fd, uint8_t family);

/// The port a socket is bound to, or -errno.
int fz_udp_local_port(int fd);

/// Receives up to `count` datagrams with one recvmmsg(2), with their GRO segment sizes and, where enabled, their
/// local addresses. Returns how many, 0 if none was waiting, or -errno.
int fz_udp_receive_batch(int fd, fz_datagram *datagrams, unsigned int count);

/// Sends `count` datagrams with sendmmsg(2), retrying the rest of a partial batch. Returns how many were sent
/// (datagrams the kernel refused for their destination or source are skipped and counted as sent by `failed`), or -errno
/// when the socket would block before any was sent.
int fz_udp_send_batch(int fd, const fz_datagram *datagrams, unsigned int count, unsigned int *failed);

/// Sends `count` datagrams from one socket, coalescing runs from one source to one destination into UDP GSO sends
/// (UDP_SEGMENT): one system call and one trip through the IP stack for up to 64 datagrams, segmented by the
/// device or the receiver. A run is datagrams of equal length between one pair of addresses, the last one possibly
/// shorter. `datagrams` is reordered in place, stably by destination and source, so each pair's datagrams keep
/// their order.
/// If the kernel refuses GSO (EIO: no checksum offload on the route), `*gso_disabled` is set, the run is sent
/// datagram by datagram, and later calls with the flag set never try GSO again (Firezone #10279).
/// Returns and counts like fz_udp_send_batch.
int fz_udp_send_coalesced(int fd, fz_datagram *datagrams, unsigned int count, unsigned int *failed,
                          uint8_t *gso_disabled);

#endif
