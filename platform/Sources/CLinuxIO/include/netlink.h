#ifndef FIREZONE_NETLINK_H
#define FIREZONE_NETLINK_H

// The kernel's rtnetlink definitions (message types, attribute numbers, flags), which Swift's Glibc module does not
// import: connlib's Linux integration builds and parses NETLINK_ROUTE messages with them (rtnetlink(7)).
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#endif
