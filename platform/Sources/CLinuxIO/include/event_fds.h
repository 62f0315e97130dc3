#ifndef FIREZONE_EVENT_FDS_H
#define FIREZONE_EVENT_FDS_H

#include <stdint.h>

/// The most ready descriptors one fz_epoll_wait reports.
#define FZ_MAX_EPOLL_EVENTS 64

/// An epoll instance. Returns the descriptor or -errno.
int fz_epoll_create(void);

/// Watches `fd` for input; `token` comes back from fz_epoll_wait. Returns 0 or -errno.
int fz_epoll_add(int epoll_fd, int fd, uint64_t token);

/// Watches `fd` for output, such as a non-blocking connect(2) completing; `token` comes back from fz_epoll_wait.
/// Returns 0 or -errno.
int fz_epoll_add_output(int epoll_fd, int fd, uint64_t token);

/// Stops watching `fd`. Returns 0 or -errno.
int fz_epoll_remove(int epoll_fd, int fd);

/// Waits up to `timeout_ms` (-1: forever) and writes the tokens of ready descriptors. Returns how many, or -errno
/// (-EINTR when a signal interrupted the wait).
int fz_epoll_wait(int epoll_fd, uint64_t *tokens, unsigned int capacity, int timeout_ms);

/// An eventfd to wake an epoll wait from another thread (or a signal handler). Returns the descriptor or -errno.
int fz_eventfd_create(void);
/// Makes the eventfd readable.
void fz_eventfd_signal(int fd);
/// Clears the eventfd.
void fz_eventfd_drain(int fd);

/// Blocks SIGINT and SIGTERM for the calling thread (and threads it creates later) and returns a non-blocking
/// signalfd that becomes readable when either arrives, or -errno.
int fz_termination_signalfd(void);

#endif
