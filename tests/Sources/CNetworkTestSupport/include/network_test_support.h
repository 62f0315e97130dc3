#ifndef FIREZONE_NETWORK_TEST_SUPPORT_H
#define FIREZONE_NETWORK_TEST_SUPPORT_H

#include <stdint.h>

/// Moves the calling thread into a new, empty network namespace, with IPv6 duplicate address detection off for
/// new devices. Other threads keep their namespace.
/// Returns 0 or -errno.
int fz_test_unshare_network_namespace(void);

/// Opens a TUN device (IFF_TUN | IFF_NO_PI) named `name`. Returns the file descriptor or -errno.
int fz_test_open_tun(const char *name);

/// Adds an IPv4 address with a prefix length to the interface and brings it up. Returns 0 or -errno.
int fz_test_add_ipv4_address(const char *name, uint32_t address_host_order, uint8_t prefix_length);

/// Adds an IPv6 address (16 network-order bytes) with a prefix length to the interface. Returns 0 or -errno.
int fz_test_add_ipv6_address(const char *name, const uint8_t *address, uint8_t prefix_length);

/// Waits up to `timeout_ms` for `fd` to be readable, then reads into `buffer`. Returns the length, 0 on
/// timeout, or -errno.
long fz_test_read_with_timeout(int fd, uint8_t *buffer, unsigned long capacity, int timeout_ms);

#endif
