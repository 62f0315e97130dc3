import Glibc

/// The process's standard error, written with one write(2) and no buffering: the last words of an executable that
/// exits right after.
public enum StandardError {
    public static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(STDERR_FILENO, &bytes, bytes.count)
    }
}
