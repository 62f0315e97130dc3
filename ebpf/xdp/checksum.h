/*
 * Internet checksum arithmetic (RFC 1071) for incremental updates (RFC 1624).
 *
 * Words are summed as they lie in memory: the one's complement sum is byte-order independent (RFC 1071
 * §2(B)), so nothing is swapped. Sums are kept in 32 bits and folded once at the end; the few dozen words a
 * translation touches cannot overflow them.
 */
#ifndef FIREZONE_RELAY_XDP_CHECKSUM_H
#define FIREZONE_RELAY_XDP_CHECKSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u32 csum_add_word(__u32 sum, __be16 word)
{
    return sum + (__u16)word;
}

/* RFC 1624 eqn. 3: taking a word out is adding its complement. */
static __always_inline __u32 csum_remove_word(__u32 sum, __be16 word)
{
    return sum + (__u16)~word;
}

/* `length` is 4 or 16 (an address), or another even compile-time constant. */
static __always_inline __u32 csum_add_words(__u32 sum, const __u8 *bytes, int length)
{
#pragma unroll
    for (int offset = 0; offset < length; offset += 2) {
        __u16 word;
        __builtin_memcpy(&word, bytes + offset, 2);
        sum += word;
    }
    return sum;
}

static __always_inline __u32 csum_remove_words(__u32 sum, const __u8 *bytes, int length)
{
#pragma unroll
    for (int offset = 0; offset < length; offset += 2) {
        __u16 word;
        __builtin_memcpy(&word, bytes + offset, 2);
        sum += (__u16)~word;
    }
    return sum;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return (__u16)sum;
}

/* RFC 768: a computed UDP checksum of zero is transmitted as all ones (zero means "none"). */
static __always_inline __be16 csum_udp_final(__u32 sum)
{
    __u16 checksum = ~csum_fold(sum);
    return checksum ? checksum : 0xFFFF;
}

#endif
