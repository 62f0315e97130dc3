// Linux calls the kernel cross-check tests need, kept in C because Swift's Glibc module does not import
// unshare(2), the TUN ioctls or struct in6_ifreq.
#define _GNU_SOURCE
#include "network_test_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/ipv6.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_sysctl(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t written = write(fd, value, strlen(value));
    int error = written < 0 ? errno : 0;
    close(fd);
    return -error;
}

int fz_test_unshare_network_namespace(void) {
    if (unshare(CLONE_NEWNET) != 0) {
        return -errno;
    }
    // /proc/sys/net resolves against the calling thread's namespace. Without duplicate address detection, IPv6
    // addresses are usable at once instead of tentative for a second.
    return write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
}

int fz_test_open_tun(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

static int set_up(int sock, const char *name) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &request) < 0) {
        return -errno;
    }
    request.ifr_flags |= IFF_UP;
    return ioctl(sock, SIOCSIFFLAGS, &request) < 0 ? -errno : 0;
}

int fz_test_add_ipv4_address(const char *name, uint32_t address_host_order, uint8_t prefix_length) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return -errno;
    }
    int result = 0;
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *address = (struct sockaddr_in *)&request.ifr_addr;
    address->sin_family = AF_INET;
    address->sin_addr.s_addr = htonl(address_host_order);
    if (ioctl(sock, SIOCSIFADDR, &request) < 0) {
        result = -errno;
        goto out;
    }
    address->sin_addr.s_addr = prefix_length == 0 ? 0 : htonl(~((1u << (32 - prefix_length)) - 1));
    if (ioctl(sock, SIOCSIFNETMASK, &request) < 0) {
        result = -errno;
        goto out;
    }
    result = set_up(sock, name);
out:
    close(sock);
    return result;
}

int fz_test_add_ipv6_address(const char *name, const uint8_t *address, uint8_t prefix_length) {
    int sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return -errno;
    }
    int result = set_up(sock, name);
    if (result == 0) {
        struct in6_ifreq request;
        memset(&request, 0, sizeof(request));
        memcpy(&request.ifr6_addr, address, 16);
        request.ifr6_prefixlen = prefix_length;
        request.ifr6_ifindex = (int)if_nametoindex(name);
        if (ioctl(sock, SIOCSIFADDR, &request) < 0) {
            result = -errno;
        }
    }
    close(sock);
    return result;
}

long fz_test_read_with_timeout(int fd, uint8_t *buffer, unsigned long capacity, int timeout_ms) {
    struct pollfd descriptor = {.fd = fd, .events = POLLIN};
    int ready = poll(&descriptor, 1, timeout_ms);
    if (ready < 0) {
        return -errno;
    }
    if (ready == 0) {
        return 0;
    }
    ssize_t length = read(fd, buffer, capacity);
    return length < 0 ? -errno : (long)length;
}
