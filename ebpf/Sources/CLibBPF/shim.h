#ifndef FIREZONE_CLIBBPF_SHIM_H
#define FIREZONE_CLIBBPF_SHIM_H
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#endif
