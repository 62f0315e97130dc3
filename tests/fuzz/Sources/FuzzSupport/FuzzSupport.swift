import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands the process over to libFuzzer's driver, which parses its flags from the command line and calls `target`
/// (the fuzz target's `LLVMFuzzerTestOneInput`) for every input; exits with the driver's status.
///
/// SwiftPM links Swift executables with `main` renamed to `<Module>_main`, which is the target's top-level code, so
/// libFuzzer's own `main` is never used; each target's `main.swift` calls this instead. No `-parse-as-library`
/// (it breaks that link).
public func runLibFuzzer(_ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}

/// A broken invariant: prints what broke and traps, which libFuzzer records as a crash with its input.
public func check(
    _ condition: Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition {
        fatalError("fuzz check failed: \(message())", file: file, line: line)
    }
}
