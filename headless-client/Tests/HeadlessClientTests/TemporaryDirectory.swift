import Glibc

/// A fresh directory under /tmp, removed with its files by ``remove()``.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/headless-client-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp in /tmp")
        self.path = String(cString: template)
    }

    /// Writes `text` to `name` with `mode`; returns the path.
    @discardableResult
    func write(_ text: String, to name: String, mode: mode_t = 0o600) -> String {
        let path = "\(self.path)/\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        var bytes = Array(text.utf8)
        _ = Glibc.write(fd, &bytes, bytes.count)
        close(fd)
        chmod(path, mode)
        return path
    }

    func remove() {
        _ = system("rm -rf '\(self.path)'")
    }
}
