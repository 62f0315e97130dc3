import FirezoneOptions
import Foundation
import Testing

struct OwnerOnlyFileTests {
    static let key = SecretOptionKey.token.file

    /// A file of `mode` in a scratch directory, removed when the test ends.
    final class Scratch {
        let path = NSTemporaryDirectory() + "owner-only-" + UUID().uuidString

        init(mode: Int16) throws {
            try "token\n".write(toFile: self.path, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: self.path)
        }

        deinit {
            try? FileManager.default.removeItem(atPath: self.path)
        }
    }

    @Test func aTokenFileTheGroupOrOthersMayReadIsRefused() throws {
        for mode: Int16 in [0o640, 0o604, 0o620] {
            let scratch = try Scratch(mode: mode)
            let error = try #require(throws: OptionError.self) { try OwnerOnlyFile.check(scratch.path, key: Self.key) }
            #expect(error.description.contains("chmod 600"))
            #expect(error.description.contains("--token-file / FIREZONE_TOKEN_FILE"))
        }
    }

    @Test func aTokenFileOnlyItsOwnerMayUseIsAccepted() throws {
        let scratch = try Scratch(mode: 0o600)
        try OwnerOnlyFile.check(scratch.path, key: Self.key)
        try OwnerOnlyFile.check(scratch.path + "-missing", key: Self.key)
    }

    @Test func onlyASecretFromAFileHasAPath() {
        #expect(
            OwnerOnlyFile.path(of: Secret(exposedValue: "t", source: .fileVariable(variable: "V", path: "/p"))) == "/p"
        )
        #expect(OwnerOnlyFile.path(of: Secret(exposedValue: "t", source: .fileFlag(flag: "--f", path: "/q"))) == "/q")
        #expect(OwnerOnlyFile.path(of: Secret(exposedValue: "t", source: .variable("V"))) == nil)
    }
}
