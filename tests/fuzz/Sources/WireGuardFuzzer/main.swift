// The fuzzer's entry point (see IPPacketFuzzer/main.swift for why it calls libFuzzer's driver itself).
// With WIREGUARD_FUZZ_WRITE_SEEDS=DIR it instead writes the valid messages of its fixed setup into DIR, which is
// how corpus/wireguard/ was made (README.md).

import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

if let directory = getenv("WIREGUARD_FUZZ_WRITE_SEEDS") {
    exit(writeSeeds(to: String(cString: directory)))
}
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
