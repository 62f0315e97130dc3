/// The operating system's name and version as Rust's `os_info` crate (3.x, which Firezone's user agent uses)
/// reports a Linux distribution: its os-release(5) `ID` mapped to the crate's name for it (`debian` → `Debian`,
/// `alpine` → `Alpine Linux`, never `NAME`'s `Debian GNU/Linux`), and the release as `lsb_release -r` prints it,
/// which is os-release's `VERSION_ID` verbatim (`Debian/12`, `Ubuntu/22.04`); os_info asks `lsb_release` first and
/// keeps its `Release:` as is (os_info/src/linux/lsb_release.rs, os_info/src/os_type.rs).
///
/// Not reproduced: without lsb-release installed the crate falls back to reading `VERSION_ID` as a semantic
/// version (`12` → `12.0.0`); we report the distribution's own spelling either way rather than one that depends on
/// whether a package is installed. An unknown or missing `ID` gives the crate's final fallback, `Linux/Unknown`.
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

    /// The release as `lsb_release -r` prints it: `VERSION_ID` as written, or unknown when empty.
    private static func version(from text: String) -> String {
        let trimmed = text.trimming(\.isWhitespace)
        return trimmed.isEmpty ? "Unknown" : trimmed
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
