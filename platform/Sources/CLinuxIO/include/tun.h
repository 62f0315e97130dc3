#ifndef FIREZONE_TUN_H
#define FIREZONE_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Creates (or attaches to) the layer-3 TUN device `name`, non-blocking, without packet information headers but
/// with IFF_VNET_HDR: every packet read or written carries a virtio-net header. No offload is on yet (see
/// fz_tun_set_offloads), so until then the kernel hands over plain packets behind a header of zeros. Returns the
/// descriptor or -errno. The device disappears when the last descriptor closes.
int fz_tun_open_offload(const char *name);

/// TUNSETOFFLOAD flags (include/uapi/linux/if_tun.h; the USO ones are missing from older headers).
#define FZ_TUN_OFFLOAD_CHECKSUM 0x01u
#define FZ_TUN_OFFLOAD_TSO 0x06u
#define FZ_TUN_OFFLOAD_USO 0x60u

/// Turns on the most offloads of an offload TUN device the kernel accepts, out of `offered`: checksum, TCP and UDP
/// segmentation (USO, Linux 6.2), then without UDP segmentation, then checksum offload alone, then none. With TSO
/// the kernel hands over TCP "super-packets" of up to 64 KiB, with USO UDP ones, which fz_tun_read_segments cuts
/// into packets. Sets `*taken` to the set turned on and returns 0, or -errno.
int fz_tun_set_offloads(int fd, uint32_t offered, uint32_t *taken);

/// The length of the virtio-net header in front of every packet of an offload TUN device.
#define FZ_VNET_HEADER_LENGTH 10

/// Reads one packet (with its virtio-net header) from an offload TUN device into `scratch` and writes the IP
/// packets it stands for, each complete with correct checksums, into `region`: packet i at
/// `region + i * stride + headroom`, its length in `lengths[i]`. The stride leaves `headroom` bytes before each
/// packet and room to pad the longest to `padding_multiple` plus `tailroom` bytes after it, so that each can be
/// sealed in place. A TCP or UDP super-packet becomes one packet per `gso_size` bytes of payload; a packet whose
/// checksum was left to us gets it. Returns how many packets, 0 if none was waiting, -EINVAL for a packet we cannot
/// segment or place (dropped), or -errno.
int fz_tun_read_segments(int fd, uint8_t *scratch, size_t scratch_capacity, uint8_t *region, size_t region_capacity,
                         size_t headroom, size_t padding_multiple, size_t tailroom, size_t *stride,
                         uint32_t *lengths, unsigned int max_segments);

/// Writes one packet, which must start with a virtio-net header. Returns 0 or -errno.
int fz_tun_write(int fd, const uint8_t *packet, size_t length);

/// Which packets fz_tun_write_packets coalesces; it clears a kind the kernel refuses.
typedef struct fz_tun_coalescing {
    /// Consecutive segments of one TCP flow (for a device with TSO).
    uint8_t tcp;
    /// Consecutive datagrams of one UDP flow, all of one length but the last, which may be shorter (for a device
    /// with USO).
    uint8_t udp;
    /// The most packets one coalesced write carries.
    uint16_t max_segments;
} fz_tun_coalescing;

/// What one fz_tun_write_packets call did.
typedef struct fz_tun_write_result {
    /// Packets the device did not take.
    uint32_t packets_not_written;
    /// Coalesced writes the device took.
    uint32_t super_packets;
    /// Coalesced writes refused with EINVAL, whose packets were written one by one instead.
    uint32_t refused_super_packets;
} fz_tun_write_result;

/// Writes `count` IP packets to an offload TUN device, coalescing runs of consecutive packets of one flow into
/// super-packets as `coalescing` allows (what GRO does in the kernel), so the stack above handles one packet where
/// there were dozens. Each `packets[i]` must have FZ_VNET_HEADER_LENGTH writable bytes in front of it; `scratch`
/// holds a super-packet. A super-packet the kernel refuses with EINVAL turns that kind of coalescing off in
/// `coalescing` and its packets are written one by one.
void fz_tun_write_packets(int fd, uint8_t *const *packets, const uint32_t *lengths, unsigned int count,
                          uint8_t *scratch, size_t scratch_capacity, fz_tun_coalescing *coalescing,
                          fz_tun_write_result *result);

#endif
