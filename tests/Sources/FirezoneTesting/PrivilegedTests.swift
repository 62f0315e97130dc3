#if canImport(Glibc)
import Glibc
#endif

/// Whether tests that need root (TUN devices, network namespaces, XDP) run.
///
/// They run as root, and are skipped otherwise, except where `FIREZONE_REQUIRE_PRIVILEGED_TESTS=1` (set by
/// `make test`): there they run anyway and fail with the kernel's error, so a run that was meant to cover them
/// can never pass by skipping them.
public enum PrivilegedTests {
    public static let requireVariable = "FIREZONE_REQUIRE_PRIVILEGED_TESTS"

    public static var enabled: Bool {
        geteuid() == 0 || getenv(Self.requireVariable).map { String(cString: $0) } == "1"
    }
}
