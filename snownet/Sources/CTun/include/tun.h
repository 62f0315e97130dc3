#ifndef FIREZONE_TUN_H
#define FIREZONE_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Creates (or attaches to) the layer-3 TUN device `name` without packet information headers, non-blocking.
/// Returns the descriptor or -errno. The device disappears when the last descriptor closes.
int fz_tun_open(const char *name);

/// Reads one packet from a non-blocking descriptor. Returns its length, 0 if none is waiting, or -errno.
ssize_t fz_tun_read(int fd, uint8_t *buffer, size_t capacity);

/// Writes one packet. Returns 0 or -errno.
int fz_tun_write(int fd, const uint8_t *packet, size_t length);

/// Blocks SIGINT and SIGTERM for the calling thread (and threads it creates later) and returns a non-blocking
/// signalfd that becomes readable when either arrives, or -errno.
int fz_termination_signalfd(void);

/// Wall-clock time, seconds and nanoseconds since 1970 (CLOCK_REALTIME), for handshake timestamps.
void fz_unix_time(int64_t *seconds, int64_t *nanoseconds);

#endif
