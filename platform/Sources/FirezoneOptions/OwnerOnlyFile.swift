import Glibc

/// A file holding a secret must be readable and writable by its owner alone: a token that the group or other users
/// can read is a token they can use, and one they can change points the component at another account. Firezone's
/// headless client refuses such a token file (rust/headless-client/src/main.rs), and so do our gateway and client.
public enum OwnerOnlyFile {
    /// Throws when `path`'s mode gives its group or other users any access; a file that cannot be examined is left
    /// to the read that follows, whose error names the reason.
    public static func check(_ path: String, key: OptionKey) throws(OptionError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            return
        }
        let mode = status.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw OptionError(
                "the token file '\(path)' (\(key)) has mode \(String(mode, radix: 8)): its group or other users may "
                    + "read or change it; run `chmod 600 \(path)`"
            )
        }
    }

    /// The file a secret came from, if it came from one.
    public static func path(of secret: Secret) -> String? {
        switch secret.source {
        case .fileFlag(_, let path), .fileVariable(_, let path): path
        case .flag, .variable: nil
        }
    }
}
