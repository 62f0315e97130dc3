#ifndef FIREZONE_CSODIUM_SHIM_H
#define FIREZONE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
