import FirezoneCrypto

/// A token or key read from an option. Its `description`, `debugDescription` and reflection are redacted, so
/// interpolating it into a log line or an error prints `<redacted>`; the value is read only through
/// ``exposedValue``.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Where an operator put the secret.
    public enum Source: Sendable, Hashable {
        case flag(String)
        case fileFlag(flag: String, path: String)
        case variable(String)
        case fileVariable(variable: String, path: String)
    }

    /// The secret text, trimmed of trailing white space when it came from a file.
    public let exposedValue: String
    public let source: Source

    public init(exposedValue: String, source: Source) {
        self.exposedValue = exposedValue
        self.source = source
    }

    public var description: String {
        "<redacted>"
    }

    public var debugDescription: String {
        "<redacted>"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["source": self.source])
    }

    /// The bytes the secret stands for: hex is decoded first (Firezone writes its secrets as hex, Firezone's rust/relay/server/src/auth.rs),
    /// then standard base64 (padded or not), and any other text counts as its UTF-8 bytes. Hex comes
    /// first because hex text is often valid base64 too, and reading it as hex credits it with fewer bytes.
    public var entropyBytes: Int {
        let text = self.exposedValue
        if let bytes = Hex.decode(text) {
            return bytes.count
        }
        if let bytes = Self.decodeBase64(text) {
            return bytes.count
        }
        return text.utf8.count
    }

    /// The warning an executable logs when the secret came from a flag: any local user can read a process's
    /// arguments in /proc/PID/cmdline (and `ps` shows them), while its environment and files stay private.
    public func commandLineWarning(_ key: SecretOptionKey) -> String? {
        guard case .flag = self.source else {
            return nil
        }
        return "The \(key.value.label) was given as \(key.value.flag), which every local user can read in "
            + "/proc/PID/cmdline; prefer \(key.file.flag), \(key.file.variable) or \(key.value.variable)"
    }

    private static func decodeBase64(_ text: String) -> [UInt8]? {
        if text.hasSuffix("=") {
            return Base64.decode(text)
        }
        return Base64.decode(text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4))
    }
}
