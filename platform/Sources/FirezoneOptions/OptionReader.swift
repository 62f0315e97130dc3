import Glibc
import Logging

/// Reads options the way Firezone's binaries do: a command-line flag wins over its environment variable, which
/// wins over the default. An environment variable set to the empty string counts as unset.
///
/// The environment is a dictionary passed in (``processEnvironment()`` for the executable, a literal in tests), and
/// secret files are read through an injected function, so nothing here depends on the process it runs in.
public struct OptionReader: Sendable {
    /// The most a secret file may hold: tokens and keys are far smaller, and the limit stops a mistaken path such
    /// as `/dev/zero` from being read forever.
    public static let maximumSecretFileSize = 64 * 1024

    public struct FileReadError: Error, Hashable {
        public var reason: String

        public init(reason: String) {
            self.reason = reason
        }
    }

    public typealias FileReader = @Sendable (_ path: String) throws(FileReadError) -> [UInt8]

    public let environment: [String: String]
    private let readFile: FileReader

    public init(environment: [String: String], readFile: @escaping FileReader = OptionReader.readFileSystem) {
        self.environment = environment
        self.readFile = readFile
    }

    /// The flag's text, else the variable's, else nil.
    public func text(_ key: OptionKey, flag: String?) -> String? {
        if let flag {
            return flag
        }
        return self.variable(key.variable)
    }

    /// The environment variable `name`, nil when unset or empty.
    public func variable(_ name: String) -> String? {
        guard let value = self.environment[name], !value.isEmpty else {
            return nil
        }
        return value
    }

    /// The option parsed by `parse`; nil when neither flag nor variable is given, a usage error naming both and
    /// `expected` when `parse` refuses the text.
    public func value<Value>(
        _ key: OptionKey,
        flag: String?,
        expected: String,
        _ parse: (String) -> Value?
    ) throws(OptionError) -> Value? {
        guard let text = self.text(key, flag: flag) else {
            return nil
        }
        guard let value = parse(text) else {
            throw .invalid(key, text: text, expected: expected)
        }
        return value
    }

    /// A repeatable option: every value of its repeated flag or, without any flag, the comma-separated items of its
    /// variable (white space around an item ignored, empty items skipped); empty when neither is given. A value
    /// `parse` throws for is a usage error naming both, quoting the value, `expected` and `parse`'s reason.
    public func values<Value>(
        _ key: OptionKey,
        flags: [String],
        expected: String,
        _ parse: (String) throws -> Value
    ) throws(OptionError) -> [Value] {
        let texts: [String]
        if !flags.isEmpty {
            texts = flags
        } else if let variable = self.variable(key.variable) {
            texts = variable.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        } else {
            return []
        }
        var values: [Value] = []
        for text in texts {
            do {
                values.append(try parse(text))
            } catch {
                throw .invalid(key, text: text, expected: "\(expected) (\(error))")
            }
        }
        return values
    }

    /// A whole number in `range`, in plain decimal digits: no sign, no separators.
    public func integer(_ key: OptionKey, flag: String?, in range: ClosedRange<Int>) throws(OptionError) -> Int? {
        try self.value(key, flag: flag, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)") {
            text in
            guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(text),
                range.contains(value)
            else {
                return nil
            }
            return value
        }
    }

    /// A UDP or TCP port, 1 to 65535.
    public func port(_ key: OptionKey, flag: String?) throws(OptionError) -> UInt16? {
        try self.value(key, flag: flag, expected: "a port from 1 to 65535") { text in
            UInt16(text).flatMap { $0 == 0 ? nil : $0 }
        }
    }

    /// A positive ``HumanDuration``.
    public func duration(_ key: OptionKey, flag: String?) throws(OptionError) -> Duration? {
        guard let text = self.text(key, flag: flag) else {
            return nil
        }
        let duration: Duration
        do {
            duration = try HumanDuration.parse(text)
        } catch {
            throw .invalid(key, text: text, expected: "a duration such as 900s, 15m or 1h (\(error))")
        }
        guard duration > .zero else {
            throw .invalid(key, text: text, expected: "a duration above zero, such as 900s, 15m or 1h")
        }
        return duration
    }

    /// The level `RUST_LOG` sets for `targets` (see ``LogDirectives``); ``LogDirectives/defaultLevel`` when unset.
    public func logLevel(for targets: [String]) throws(OptionError) -> Logger.Level {
        guard let directives = self.variable("RUST_LOG") else {
            return LogDirectives.defaultLevel
        }
        do {
            return try LogDirectives.level(of: directives, for: targets)
        } catch {
            throw OptionError("invalid log filter (RUST_LOG): \(error)")
        }
    }

    /// A secret from its flag, its file flag, its variable or its file variable, in that order of precedence: a
    /// flag of either kind wins over the environment, and giving both kinds at the same level is a usage error
    /// (which one was meant is unclear). A file's trailing white space (the newline `echo` adds) is dropped.
    ///
    /// With `minimumBytes`, a secret whose ``Secret/entropyBytes`` falls short is refused. No error carries any
    /// part of the secret.
    public func secret(
        _ key: SecretOptionKey,
        flag: String?,
        fileFlag: String?,
        minimumBytes: Int? = nil
    ) throws(OptionError) -> Secret? {
        let secret: Secret
        switch (flag, fileFlag, self.variable(key.value.variable), self.variable(key.file.variable)) {
        case (.some, .some, _, _):
            throw OptionError("give either \(key.value.flag) or \(key.file.flag), not both")
        case (.some(let value), nil, _, _):
            secret = Secret(exposedValue: value, source: .flag(key.value.flag))
        case (nil, .some(let path), _, _):
            let value = try self.readSecretFile(path, key: key.file)
            secret = Secret(exposedValue: value, source: .fileFlag(flag: key.file.flag, path: path))
        case (nil, nil, .some, .some):
            throw OptionError("set either \(key.value.variable) or \(key.file.variable), not both")
        case (nil, nil, .some(let value), nil):
            secret = Secret(exposedValue: value, source: .variable(key.value.variable))
        case (nil, nil, nil, .some(let path)):
            let value = try self.readSecretFile(path, key: key.file)
            secret = Secret(exposedValue: value, source: .fileVariable(variable: key.file.variable, path: path))
        case (nil, nil, nil, nil):
            return nil
        }
        if secret.exposedValue.isEmpty {
            throw .invalidSecret(key.value, reason: "empty")
        }
        if let minimumBytes, secret.entropyBytes < minimumBytes {
            throw .invalidSecret(
                key.value,
                reason: "it holds \(secret.entropyBytes) bytes, fewer than the \(minimumBytes) it needs; use "
                    + "\(minimumBytes) random bytes as hex (openssl rand -hex \(minimumBytes))"
            )
        }
        return secret
    }

    private func readSecretFile(_ path: String, key: OptionKey) throws(OptionError) -> String {
        let bytes: [UInt8]
        do {
            bytes = try self.readFile(path)
        } catch {
            throw OptionError("cannot read the \(key.label) (\(key)) '\(path)': \(error.reason)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw OptionError("the \(key.label) (\(key)) '\(path)' is not UTF-8 text")
        }
        let end = text.lastIndex(where: { !$0.isWhitespace }).map { text.index(after: $0) } ?? text.startIndex
        let trimmed = String(text[..<end])
        guard !trimmed.isEmpty else {
            throw OptionError("the \(key.label) (\(key)) '\(path)' is empty")
        }
        return trimmed
    }

    /// The process's environment, for the executable's reader.
    public static func processEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var entry = Glibc.environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return environment
    }

    /// Reads a whole regular file of at most ``maximumSecretFileSize`` bytes.
    @Sendable
    public static func readFileSystem(_ path: String) throws(FileReadError) -> [UInt8] {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw FileReadError(reason: String(cString: strerror(errno)))
        }
        defer { _ = Glibc.close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR {
                    continue
                }
                throw FileReadError(reason: String(cString: strerror(errno)))
            }
            if count == 0 {
                return contents
            }
            contents.append(contentsOf: chunk[..<count])
            guard contents.count <= Self.maximumSecretFileSize else {
                throw FileReadError(reason: "larger than \(Self.maximumSecretFileSize) bytes")
            }
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        guard let first = self.firstIndex(where: { !$0.isWhitespace }),
            let last = self.lastIndex(where: { !$0.isWhitespace })
        else {
            return ""
        }
        return String(self[first...last])
    }
}
