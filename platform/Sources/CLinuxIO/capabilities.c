#include "capabilities.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int fz_capability_make_ambient(int capability) {
    if (capability < 0 || capability >= 64) {
        return -EINVAL;
    }
    // capget(2)/capset(2) have no glibc declaration; version 3 carries two 32-bit words per set.
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &header, data) != 0) {
        return -errno;
    }
    unsigned word = (unsigned)capability / 32;
    unsigned bit = 1u << ((unsigned)capability % 32);
    if ((data[word].permitted & bit) == 0) {
        return 0;
    }
    // PR_CAP_AMBIENT_RAISE needs the capability permitted and inheritable (prctl(2)); adding a permitted
    // capability to the inheritable set needs no privilege of its own (capset(2)).
    if ((data[word].inheritable & bit) == 0) {
        data[word].inheritable |= bit;
        if (syscall(SYS_capset, &header, data) != 0) {
            return -errno;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)capability, 0UL, 0UL) != 0) {
        return -errno;
    }
    return 1;
}

int fz_capability_is_ambient(int capability) {
    int result = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)capability, 0UL, 0UL);
    return result < 0 ? -errno : result;
}
