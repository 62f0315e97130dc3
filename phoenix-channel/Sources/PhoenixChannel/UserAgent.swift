import Glibc

/// The User-Agent of portal connections: `<os>/<os version> <component>/<version> (<arch>; <kernel>)`, with the
/// component type (`relay`, `gateway`, `headless-client`), as Firezone #10457 sends it (`get_user_agent` of its
/// phoenix-channel crate): the OS as the `os_info` crate names it (see ``OperatingSystemRelease``), the machine
/// and kernel release of uname(2).
public enum UserAgent {
    public static func make(component: String, version: String) -> String {
        var system = utsname()
        let machine: String
        let kernel: String
        if uname(&system) == 0 {
            machine = Self.field(&system.machine)
            kernel = Self.field(&system.release)
        } else {
            machine = "unknown"
            kernel = "unknown"
        }
        return Self.format(
            system: OperatingSystemRelease(osRelease: Self.contents(of: OperatingSystemRelease.path)),
            component: component,
            version: version,
            machine: machine,
            kernel: kernel
        )
    }

    package static func format(
        system: OperatingSystemRelease,
        component: String,
        version: String,
        machine: String,
        kernel: String
    ) -> String {
        "\(system.name)/\(system.version) \(component)/\(version) (\(machine); \(kernel))"
    }

    /// A small text file, or nil when it cannot be read.
    private static func contents(of path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            return nil
        }
        defer { close(descriptor) }
        // os-release(5) files are a few hundred bytes; more than this is not one.
        var bytes = [UInt8](repeating: 0, count: 64 * 1024)
        var count = 0
        while count < bytes.count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                read(descriptor, buffer.baseAddress! + count, buffer.count - count)
            }
            if result < 0, errno == EINTR {
                continue
            }
            guard result > 0 else {
                break
            }
            count += result
        }
        return String(decoding: bytes[..<count], as: UTF8.self)
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
