#ifndef FIREZONE_NETLINK_H
#define FIREZONE_NETLINK_H

// The kernel's rtnetlink definitions (message types, attribute numbers, flags), which Swift's Glibc module does not
// import: connlib's Linux integration builds and parses NETLINK_ROUTE messages with them (rtnetlink(7)). Only
// the kernel's own headers: a libc header included here would be owned by this module in a fresh build, and its
// declarations (SOCK_DGRAM, say) hidden from Swift files that import Glibc but not CLinuxIO.
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#endif
