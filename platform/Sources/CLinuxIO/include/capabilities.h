#ifndef FIREZONE_CAPABILITIES_H
#define FIREZONE_CAPABILITIES_H

/// Makes capability `capability` (a CAP_* number, capabilities(7)) survive execve(2) into programs this thread
/// starts: a process that holds it through file capabilities (`setcap cap_net_admin+eip`) and is not root passes no
/// capability to its children unless the capability is in its ambient set, which needs it in the inheritable set
/// first. Capability sets belong to the calling thread, so call this on the thread that spawns.
///
/// Returns 1 when the capability is now ambient, 0 when the thread does not have it permitted (nothing to pass on;
/// nothing changed), or -errno.
int fz_capability_make_ambient(int capability);

/// Whether `capability` is in the calling thread's ambient set: 1, 0, or -errno.
int fz_capability_is_ambient(int capability);

#endif
