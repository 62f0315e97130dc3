#ifndef FZ_HEAP_USAGE_H
#define FZ_HEAP_USAGE_H

#include <stddef.h>

/// Bytes allocated with malloc and not freed, from glibc's mallinfo2(3): chunks in use in every arena
/// (`uordblks`) plus chunks mapped on their own (`hblkhd`). Swift's Glibc module does not import <malloc.h>.
size_t fz_heap_bytes_in_use(void);

#endif
