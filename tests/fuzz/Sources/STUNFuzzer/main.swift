// The fuzzer's entry point. SwiftPM links Swift executables with `main` renamed to `STUNFuzzer_main`, which
// is this file's top-level code; it hands over to libFuzzer, which parses its flags from the command line and
// calls `fuzz` (`LLVMFuzzerTestOneInput`) for every input. No `-parse-as-library` needed (it breaks the link).

import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
