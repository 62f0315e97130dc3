// The fuzzer's entry point: the top-level code that SwiftPM links as `main` hands over to libFuzzer.

import FuzzSupport

runLibFuzzer(fuzz)
