#ifndef C_LIB_FUZZER_H
#define C_LIB_FUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver as a library call (https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library).
/// It is linked in by `-sanitize=fuzzer`. A fuzz target's `main.swift` calls it, because SwiftPM renames the
/// entry point of Swift executables (`--defsym main=<Module>_main`), so libFuzzer's own `main` is never used.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
