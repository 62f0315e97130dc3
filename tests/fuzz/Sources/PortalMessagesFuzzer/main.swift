// The fuzzer's entry point: hands over to libFuzzer, which calls `fuzz` (`LLVMFuzzerTestOneInput`) for every
// input (see the ip-packet target's main.swift for why this is not `-parse-as-library`).

import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
