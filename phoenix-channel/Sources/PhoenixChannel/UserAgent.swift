import Glibc

/// The User-Agent of portal connections: `<os>/<os version> <component>/<version> (<arch>; <kernel>)`, with the
/// component type (`relay`, `gateway`, `headless-client`), as Firezone #10457 sends it.
public enum UserAgent {
    public static func make(component: String, version: String) -> String {
        let (os, osVersion) = Self.operatingSystem()
        var system = utsname()
        uname(&system)
        let machine = Self.field(&system.machine)
        let kernel = Self.field(&system.release)
        return "\(os)/\(osVersion) \(component)/\(version) (\(machine); \(kernel))"
    }

    /// `NAME` and `VERSION_ID` of os-release(5), as Rust's `os_info` reports Linux distributions.
    private static func operatingSystem() -> (String, String) {
        guard let file = fopen("/etc/os-release", "r") else {
            return ("Linux", "unknown")
        }
        defer { fclose(file) }
        var name = "Linux"
        var version = "unknown"
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimming {
                $0.isWhitespace
            }
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let value = parts[1].trimming { $0 == "\"" || $0 == "'" }
            switch parts[0] {
            case "NAME": name = value
            case "VERSION_ID": version = value
            default: break
            }
        }
        return (String(name.map { $0 == " " ? "_" : $0 }), version)
    }

    private static func field<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

extension String {
    /// Without leading and trailing characters that match.
    func trimming(_ matches: (Character) -> Bool) -> String {
        String(self.drop(while: matches).reversed().drop(while: matches).reversed())
    }
}
