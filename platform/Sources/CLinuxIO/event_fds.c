// epoll, eventfd and signalfd for the event loops: the calls Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "event_fds.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

int fz_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int fz_epoll_add(int epoll_fd, int fd, uint64_t token) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int fz_epoll_add_output(int epoll_fd, int fd, uint64_t token) {
    struct epoll_event event = {.events = EPOLLOUT, .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int fz_epoll_remove(int epoll_fd, int fd) {
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int fz_epoll_wait(int epoll_fd, uint64_t *tokens, unsigned int capacity, int timeout_ms) {
    struct epoll_event events[FZ_MAX_EPOLL_EVENTS];
    if (capacity > FZ_MAX_EPOLL_EVENTS) {
        capacity = FZ_MAX_EPOLL_EVENTS;
    }
    int ready = epoll_wait(epoll_fd, events, (int)capacity, timeout_ms);
    if (ready < 0) {
        return -errno;
    }
    for (int i = 0; i < ready; i++) {
        tokens[i] = events[i].data.u64;
    }
    return ready;
}

int fz_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void fz_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

void fz_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof(value));
    (void)ignored;
}

int fz_termination_signalfd(void) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0) {
        return -errno;
    }
    int fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}
