#ifndef FIREZONE_TUN_H
#define FIREZONE_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Creates (or attaches to) the layer-3 TUN device `name`, non-blocking, without packet information headers but
/// with IFF_VNET_HDR and the TCP segmentation and checksum offloads turned on (TUNSETOFFLOAD TUN_F_CSUM |
/// TUN_F_TSO4 | TUN_F_TSO6): the kernel then hands over TCP "super-packets" of up to 64 KiB with a virtio-net
/// header, which fz_tun_read_segments cuts into MTU-sized packets. Returns the descriptor or -errno. The device
/// disappears when the last descriptor closes.
int fz_tun_open_offload(const char *name);

/// The length of the virtio-net header in front of every packet of an offload TUN device.
#define FZ_VNET_HEADER_LENGTH 10

/// Reads one packet (with its virtio-net header) from an offload TUN device into `scratch` and writes the IP
/// packets it stands for, each complete with correct checksums, into `region`: packet i at
/// `region + i * stride + headroom`, its length in `lengths[i]`. The stride leaves `headroom` bytes before each
/// packet and room to pad the longest to `padding_multiple` plus `tailroom` bytes after it, so that each can be
/// sealed in place. A TCP super-packet becomes one packet per `gso_size`
/// bytes of payload; a packet whose checksum was left to us gets it. Returns how many packets, 0 if none was
/// waiting, -EINVAL for a packet we cannot segment or place (dropped), or -errno.
int fz_tun_read_segments(int fd, uint8_t *scratch, size_t scratch_capacity, uint8_t *region, size_t region_capacity,
                         size_t headroom, size_t padding_multiple, size_t tailroom, size_t *stride,
                         uint32_t *lengths, unsigned int max_segments);

/// Writes one packet, which must start with a virtio-net header. Returns 0 or -errno.
int fz_tun_write(int fd, const uint8_t *packet, size_t length);

/// Writes `count` IP packets to an offload TUN device, coalescing runs of consecutive segments of one TCP flow into
/// super-packets (what GRO does in the kernel), so the stack above handles one packet where there were dozens.
/// Each `packets[i]` must have FZ_VNET_HEADER_LENGTH writable bytes in front of it; `scratch` holds a super-packet.
/// Returns how many writes failed.
int fz_tun_write_packets(int fd, uint8_t *const *packets, const uint32_t *lengths, unsigned int count,
                         uint8_t *scratch, size_t scratch_capacity);

#endif
