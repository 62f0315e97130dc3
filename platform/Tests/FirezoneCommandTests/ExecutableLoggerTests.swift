import FirezoneCommand
import Glibc
import Logging
import Testing

@Suite struct ExecutableLoggerTests {
    /// A scratch directory of this test's own, removed with what it holds.
    private func withScratchDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/firezone-command-XXXXXX".utf8CString)
        let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer {
            _ = unlink("\(directory)/probe.log")
            _ = rmdir(directory)
        }
        try body(directory)
    }

    private func contents(of path: String) throws -> String {
        let file = try #require(fopen(path, "r"))
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return text
    }

    @Test func aLogDirectoryGetsTheExecutablesLogFileAtTheRustLogLevel() throws {
        try self.withScratchDirectory { directory in
            let logger = ExecutableLogger.make(label: "probe", level: .info, directory: directory)
            logger.debug("below the level")
            logger.info("tunnel up", metadata: ["peer": "gateway-a"])
            let text = try self.contents(of: "\(directory)/probe.log")
            #expect(text.contains("info probe: tunnel up peer=gateway-a\n"), "\(text)")
            #expect(!text.contains("below the level"))
        }
    }

    @Test func withoutALogDirectoryTheLoggerKeepsTheLevel() {
        let logger = ExecutableLogger.make(label: "probe", level: .warning)
        #expect(logger.logLevel == .warning)
        #expect(logger.label == "probe")
    }
}
