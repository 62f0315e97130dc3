/* An LD_PRELOAD shim that moves the monotonic clocks of the process it is loaded into forward by an offset the
 * test sets at run time, so that timers of ten minutes (RFC 8656 §12: a channel binding lasts 600 s) come due
 * within a test's seconds. The offset, in nanoseconds, is the first 8 bytes of the file named by
 * FZ_CLOCK_SHIFT_FILE, mapped shared: the test writes it, every clock_gettime(2) reads it. CLOCK_REALTIME is left
 * alone, so credentials and nonces keep to the wall clock. Firezone's relay has no option to shorten its lifetimes,
 * and neither does ours; this keeps the executable as it ships. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_function)(clockid_t, struct timespec *);

static volatile int64_t *shift_offset(void) {
    static volatile int64_t *mapped;
    volatile int64_t *offset = __atomic_load_n(&mapped, __ATOMIC_ACQUIRE);
    if (offset != NULL) return offset;
    const char *path = getenv("FZ_CLOCK_SHIFT_FILE");
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) return NULL;
    void *page = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (page == MAP_FAILED) return NULL;
    volatile int64_t *expected = NULL;
    if (!__atomic_compare_exchange_n(&mapped, &expected, page, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        munmap(page, sizeof(int64_t));
        return expected;
    }
    return page;
}

int clock_gettime(clockid_t clock, struct timespec *time) {
    static clock_gettime_function real;
    clock_gettime_function function = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (function == NULL) {
        function = (clock_gettime_function)dlsym(RTLD_NEXT, "clock_gettime");
        __atomic_store_n(&real, function, __ATOMIC_RELEASE);
    }
    int result = function(clock, time);
    if (result != 0 || clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE) return result;
    volatile int64_t *offset = shift_offset();
    if (offset == NULL) return result;
    int64_t nanoseconds = (int64_t)time->tv_nsec + *offset % 1000000000;
    time->tv_sec += *offset / 1000000000 + nanoseconds / 1000000000;
    time->tv_nsec = nanoseconds % 1000000000;
    return result;
}
