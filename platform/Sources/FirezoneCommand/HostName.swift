import Glibc

/// The host's name (gethostname(2)): the name a gateway or client shows in the portal unless `FIREZONE_NAME` gives
/// one.
public enum HostName {
    /// Nil when the call fails or the name is empty.
    public static func current() -> String? {
        var bytes = [CChar](repeating: 0, count: 256)
        guard gethostname(&bytes, bytes.count - 1) == 0 else {
            return nil
        }
        let name = String(decoding: bytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}
