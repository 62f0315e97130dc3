/// The operating system's name and version as Rust's `os_info` crate (3.x, which Firezone's user agent uses)
/// reports a Linux distribution from os-release(5): its `ID` mapped to the crate's name for it (`debian` →
/// `Debian`, `alpine` → `Alpine Linux`, never `NAME`'s `Debian GNU/Linux`), and `VERSION_ID` read as a
/// semantic version (`12` → `12.0.0`, `22.04` → `22.4.0`) when it is one, verbatim otherwise
/// (os_info/src/linux/file_release.rs, os_info/src/version.rs, os_info/src/os_type.rs).
///
/// Not reproduced: the crate first runs `lsb_release -a`, whose `Release:` it keeps verbatim (so a host with
/// lsb-release installed reports `Debian/12`), and falls back to older release files (`/etc/redhat-release`, …)
/// when `ID` is unknown. Here an unknown or missing `ID` gives the crate's final fallback, `Linux/Unknown`.
package struct OperatingSystemRelease: Hashable, Sendable {
    package static let path = "/etc/os-release"

    package var name: String
    package var version: String

    /// `text` is the content of /etc/os-release; nil when it could not be read.
    package init(osRelease text: String?) {
        guard let text, let id = Self.value(of: "ID", in: text), let name = Self.names[id] else {
            self.name = "Linux"
            self.version = "Unknown"
            return
        }
        self.name = name
        self.version = Self.value(of: "VERSION_ID", in: text).map(Self.version(from:)) ?? "Unknown"
    }

    /// The value of the first line that starts with `key=`, without surrounding double quotes and whitespace
    /// (single quotes stay, as in the crate's `Matcher::KeyValue`).
    private static func value(of key: String, in text: String) -> String? {
        let prefix = key + "="
        // Rust's `str::lines`: lines end at "\n" or "\r\n" (one Character in Swift).
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for line in lines where line.hasPrefix(prefix) {
            return String(line.dropFirst(prefix.count)).trimming { $0 == "\"" || $0.isWhitespace }
        }
        return nil
    }

    /// `Version::from_string`: empty is unknown; up to three dot-separated numbers (a trailing dot allowed,
    /// missing parts zero) are a semantic version printed as `major.minor.patch`; anything else is kept.
    private static func version(from text: String) -> String {
        if text.isEmpty {
            return "Unknown"
        }
        var parts = text.trimming(\.isWhitespace).split(separator: ".", omittingEmptySubsequences: false)
        // Rust's `split_terminator` drops one empty piece at the end.
        if parts.last?.isEmpty == true {
            parts.removeLast()
        }
        guard (1...3).contains(parts.count), let major = UInt64(parts[0]) else {
            return text
        }
        guard let minor = parts.count > 1 ? UInt64(parts[1]) : 0, let patch = parts.count > 2 ? UInt64(parts[2]) : 0
        else {
            return text
        }
        return "\(major).\(minor).\(patch)"
    }

    /// os-release `ID`s the crate knows, with the name its `Display` prints.
    private static let names: [String: String] = [
        "almalinux": "AlmaLinux",
        "alpaquita": "Alpaquita Linux",
        "alpine": "Alpine Linux",
        "amzn": "Amazon Linux AMI",
        "aosc": "AOSC OS",
        "arch": "Arch Linux",
        "archarm": "Arch Linux",
        "artix": "Artix Linux",
        "bluefin": "Bluefin",
        "cachyos": "CachyOS Linux",
        "centos": "CentOS",
        "debian": "Debian",
        "fedora": "Fedora",
        "kali": "Kali Linux",
        "manjaro-arm": "Manjaro",
        "linuxmint": "Linux Mint",
        "mariner": "Mariner",
        "nixos": "NixOS",
        "nobara": "Nobara Linux",
        "Uos": "UOS",
        "opencloudos": "OpenCloudOS",
        "openEuler": "EulerOS",
        "ol": "Oracle Linux",
        "opensuse": "openSUSE",
        "opensuse-leap": "openSUSE",
        "opensuse-microos": "openSUSE",
        "opensuse-tumbleweed": "openSUSE",
        "rhel": "Red Hat Enterprise Linux",
        "rocky": "Rocky Linux",
        "sled": "SUSE Linux Enterprise Server",
        "sles": "SUSE Linux Enterprise Server",
        "sles_sap": "SUSE Linux Enterprise Server",
        "ubuntu": "Ubuntu",
        "ultramarine": "Ultramarine Linux",
        "void": "Void Linux",
    ]
}
