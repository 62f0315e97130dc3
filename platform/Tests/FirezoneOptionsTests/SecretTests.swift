import FirezoneOptions
import Glibc
import Testing

/// Secrets from flags, variables and files; their precedence, the refusal of weak relay secrets, and that no
/// error or description ever carries them.
struct SecretTests {
    static let key = SecretOptionKey.relayAuthSecret
    /// 32 bytes as hex: strong enough for the relay.
    static let strong = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static let fromFile = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

    /// A reader whose file system is `files`; any other path does not exist.
    static func reader(_ environment: [String: String], files: [String: String] = [:]) -> OptionReader {
        OptionReader(environment: environment) { path throws(OptionReader.FileReadError) in
            guard let contents = files[path] else {
                throw OptionReader.FileReadError(reason: "No such file or directory")
            }
            return Array(contents.utf8)
        }
    }

    @Test func aFlagIsReadAndItsSourceRecorded() throws {
        let secret = try #require(try Self.reader([:]).secret(Self.key, flag: Self.strong, fileFlag: nil))
        #expect(secret.exposedValue == Self.strong)
        #expect(secret.source == .flag("--auth-secret"))
    }

    @Test func aFileFlagIsReadWithoutItsTrailingNewline() throws {
        let reader = Self.reader([:], files: ["/run/secret": Self.fromFile + "\r\n\n"])
        let secret = try #require(try reader.secret(Self.key, flag: nil, fileFlag: "/run/secret"))
        #expect(secret.exposedValue == Self.fromFile)
        #expect(secret.source == .fileFlag(flag: "--auth-secret-file", path: "/run/secret"))
    }

    @Test func theVariableIsRead() throws {
        let reader = Self.reader(["FIREZONE_RELAY_AUTH_SECRET": Self.strong])
        let secret = try #require(try reader.secret(Self.key, flag: nil, fileFlag: nil))
        #expect(secret.exposedValue == Self.strong)
        #expect(secret.source == .variable("FIREZONE_RELAY_AUTH_SECRET"))
    }

    @Test func theFileVariableIsRead() throws {
        let reader = Self.reader(["FIREZONE_RELAY_AUTH_SECRET_FILE": "/s"], files: ["/s": Self.fromFile + "\n"])
        let secret = try #require(try reader.secret(Self.key, flag: nil, fileFlag: nil))
        #expect(secret.exposedValue == Self.fromFile)
        #expect(secret.source == .fileVariable(variable: "FIREZONE_RELAY_AUTH_SECRET_FILE", path: "/s"))
    }

    @Test func noSourceIsNil() throws {
        #expect(try Self.reader([:]).secret(Self.key, flag: nil, fileFlag: nil) == nil)
    }

    @Test func eitherFlagWinsOverEitherVariable() throws {
        let environment = ["FIREZONE_RELAY_AUTH_SECRET": Self.fromFile, "FIREZONE_RELAY_AUTH_SECRET_FILE": "/s"]
        let reader = Self.reader(environment, files: ["/s": Self.fromFile, "/f": Self.strong])
        #expect(try reader.secret(Self.key, flag: Self.strong, fileFlag: nil)?.exposedValue == Self.strong)
        #expect(try reader.secret(Self.key, flag: nil, fileFlag: "/f")?.exposedValue == Self.strong)
    }

    @Test func bothFlagsAreAUsageError() {
        let reader = Self.reader([:], files: ["/f": Self.strong])
        #expect(throws: OptionError("give either --auth-secret or --auth-secret-file, not both")) {
            try reader.secret(Self.key, flag: Self.strong, fileFlag: "/f")
        }
    }

    @Test func bothVariablesAreAUsageError() {
        let reader = Self.reader(
            ["FIREZONE_RELAY_AUTH_SECRET": Self.strong, "FIREZONE_RELAY_AUTH_SECRET_FILE": "/f"],
            files: ["/f": Self.strong]
        )
        let message = "set either FIREZONE_RELAY_AUTH_SECRET or FIREZONE_RELAY_AUTH_SECRET_FILE, not both"
        #expect(throws: OptionError(message)) { try reader.secret(Self.key, flag: nil, fileFlag: nil) }
    }

    @Test func aMissingFileNamesItsPathAndTheReason() {
        let message =
            "cannot read the auth secret file (--auth-secret-file / FIREZONE_RELAY_AUTH_SECRET_FILE) "
            + "'/missing': No such file or directory"
        #expect(throws: OptionError(message)) {
            try Self.reader([:]).secret(Self.key, flag: nil, fileFlag: "/missing")
        }
    }

    @Test func anEmptyFileIsRefused() {
        let reader = Self.reader(["FIREZONE_RELAY_AUTH_SECRET_FILE": "/e"], files: ["/e": " \n"])
        let message = "the auth secret file (--auth-secret-file / FIREZONE_RELAY_AUTH_SECRET_FILE) '/e' is empty"
        #expect(throws: OptionError(message)) { try reader.secret(Self.key, flag: nil, fileFlag: nil) }
    }

    @Test func anEmptyFlagIsRefused() {
        let message = "invalid auth secret (--auth-secret / FIREZONE_RELAY_AUTH_SECRET): empty"
        #expect(throws: OptionError(message)) { try Self.reader([:]).secret(Self.key, flag: "", fileFlag: nil) }
    }

    @Test func aFileThatIsNotTextIsRefused() {
        let reader = OptionReader(environment: [:]) { _ throws(OptionReader.FileReadError) in [0xFF, 0xFE, 0x00] }
        let message =
            "the auth secret file (--auth-secret-file / FIREZONE_RELAY_AUTH_SECRET_FILE) '/b' is not UTF-8 text"
        #expect(throws: OptionError(message)) { try reader.secret(Self.key, flag: nil, fileFlag: "/b") }
    }

    @Test(arguments: [
        (String(repeating: "ab", count: 32), 32),  // hex
        (String(repeating: "AB", count: 16), 16),
        ("1cab293a-4032-46f4-862a-40e5d174b0d2", 36),  // raw text: its UTF-8 bytes
        ("ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=", 32),  // padded base64
        ("ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8", 32),  // base64 without padding
        ("ABEiM0RVZneImaq7zN3u_wARIjNEVWZ3iJmqu8zd7v8", 43),  // URL-safe base64 is raw text
        ("short", 5),
    ])
    func entropyIsCountedAfterDecoding(text: String, bytes: Int) {
        #expect(Secret(exposedValue: text, source: .flag("--x")).entropyBytes == bytes)
    }

    @Test(arguments: [
        String(repeating: "ab", count: 31),  // 31 bytes of hex
        "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7g",  // 31 bytes of base64
        "correct horse battery staple",  // 28 raw bytes
    ])
    func aWeakRelaySecretIsRefusedWithoutQuotingIt(text: String) throws {
        let reader = Self.reader(["FIREZONE_RELAY_AUTH_SECRET": text])
        let error = try #require(throws: OptionError.self) {
            try reader.secret(Self.key, flag: nil, fileFlag: nil, minimumBytes: 32)
        }
        let prefix = "invalid auth secret (--auth-secret / FIREZONE_RELAY_AUTH_SECRET): it holds "
        let suffix = "fewer than the 32 it needs; use 32 random bytes as hex (openssl rand -hex 32)"
        #expect(error.description.hasPrefix(prefix))
        #expect(error.description.hasSuffix(suffix))
        #expect(!error.description.contains(text))
        #expect(!error.description.contains(text.prefix(8)))
    }

    @Test func aStrongRelaySecretIsAccepted() throws {
        let reader = Self.reader([:])
        #expect(try reader.secret(Self.key, flag: Self.strong, fileFlag: nil, minimumBytes: 32) != nil)
    }

    @Test func noErrorCarriesTheSecret() throws {
        let secret = "6c6f6e67207365637265742074686174206d757374206e65766572206c65616b"
        let weak = "s3cr3t-weak"
        var errors: [OptionError] = []
        func record(_ body: () throws -> Secret?) {
            do {
                _ = try body()
                Issue.record("no error")
            } catch let error as OptionError {
                errors.append(error)
            } catch {
                Issue.record("not a usage error: \(error)")
            }
        }
        let files = ["/s": secret, "/w": weak]
        record { try Self.reader([:], files: files).secret(Self.key, flag: secret, fileFlag: "/s") }
        record {
            let environment = ["FIREZONE_RELAY_AUTH_SECRET": secret, "FIREZONE_RELAY_AUTH_SECRET_FILE": "/s"]
            return try Self.reader(environment, files: files).secret(Self.key, flag: nil, fileFlag: nil)
        }
        record { try Self.reader([:], files: files).secret(Self.key, flag: weak, fileFlag: nil, minimumBytes: 32) }
        record { try Self.reader([:], files: files).secret(Self.key, flag: nil, fileFlag: "/w", minimumBytes: 32) }
        record {
            try Self.reader(["FIREZONE_RELAY_AUTH_SECRET": weak], files: files)
                .secret(Self.key, flag: nil, fileFlag: nil, minimumBytes: 32)
        }
        #expect(errors.count == 5)
        for error in errors {
            let texts = [error.description, "\(error)", String(reflecting: error), "\(errors)"]
            for text in texts {
                #expect(!text.contains(secret), "\(text)")
                #expect(!text.contains(weak), "\(text)")
            }
        }
    }

    @Test func aSecretPrintsRedacted() {
        let secret = Secret(exposedValue: Self.strong, source: .variable("FIREZONE_RELAY_AUTH_SECRET"))
        for text in ["\(secret)", String(reflecting: secret), "\([secret])", "\(Optional(secret) as Any)"] {
            #expect(!text.contains(Self.strong), "\(text)")
            #expect(text.contains("<redacted>"), "\(text)")
        }
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains(Self.strong), "\(dumped)")
    }

    @Test func onlyAFlagWarns() throws {
        let secret = Secret(exposedValue: "x", source: .flag("--auth-secret"))
        let warning = try #require(secret.commandLineWarning(Self.key))
        #expect(
            warning
                == "The auth secret was given as --auth-secret, which every local user can read in /proc/PID/cmdline; "
                + "prefer --auth-secret-file, FIREZONE_RELAY_AUTH_SECRET_FILE or FIREZONE_RELAY_AUTH_SECRET"
        )
        #expect(!warning.contains("x ") && !warning.hasSuffix("x"))
        let quiet: [Secret.Source] = [
            .fileFlag(flag: "--auth-secret-file", path: "/s"), .variable("FIREZONE_RELAY_AUTH_SECRET"),
            .fileVariable(variable: "FIREZONE_RELAY_AUTH_SECRET_FILE", path: "/s"),
        ]
        for source in quiet {
            #expect(Secret(exposedValue: "x", source: source).commandLineWarning(Self.key) == nil)
        }
    }

    @Test func theFileSystemReaderReadsAFileAndReportsAMissingOne() throws {
        var template = Array("/tmp/firezone-options-XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        try #require(descriptor >= 0)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        let contents = Array((Self.strong + "\n").utf8)
        #expect(contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == contents.count)
        close(descriptor)
        #expect(try OptionReader.readFileSystem(path) == contents)
        #expect(throws: OptionReader.FileReadError(reason: "No such file or directory")) {
            try OptionReader.readFileSystem(path + ".missing")
        }
        let reader = OptionReader(environment: ["FIREZONE_RELAY_AUTH_SECRET_FILE": path])
        #expect(try reader.secret(Self.key, flag: nil, fileFlag: nil, minimumBytes: 32)?.exposedValue == Self.strong)
    }

    @Test func theFileSystemReaderStopsAtItsLimit() {
        #expect(throws: OptionReader.FileReadError(reason: "larger than 65536 bytes")) {
            try OptionReader.readFileSystem("/dev/zero")
        }
    }
}
