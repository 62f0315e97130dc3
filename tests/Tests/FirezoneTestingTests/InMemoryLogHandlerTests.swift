import FirezoneTesting
import Logging
import Testing

struct InMemoryLogHandlerTests {
    @Test func keepsRecordsInOrderWithSortedMetadata() {
        let records = InMemoryLogHandler.Records()
        var logger = records.logger(label: "core")
        logger[metadataKey: "zeta"] = "1"
        logger.debug("first", metadata: ["alpha": "2", "mid": "3"])
        records.logger(label: "other", level: .info).debug("below the level")
        logger.info("second")
        #expect(
            records.all.map(\.description) == ["debug core: first alpha=2 mid=3 zeta=1", "info core: second zeta=1"]
        )
        #expect(records.warningsAndErrors.isEmpty)
    }

    @Test func collectsWarningsAndErrors() {
        let records = InMemoryLogHandler.Records()
        let logger = records.logger(label: "core")
        logger.notice("fine")
        logger.warning("careful")
        logger.error("broken")
        #expect(records.warningsAndErrors.map(\.message) == ["careful", "broken"])
    }

    @Test func expectNoWarningsOrErrorsFailsOnAWarning() {
        let records = InMemoryLogHandler.Records()
        records.logger(label: "core").warning("careful")
        withKnownIssue {
            records.expectNoWarningsOrErrors("run 1")
        } matching: { issue in
            issue.comments.contains { $0.rawValue.contains("warning core: careful") && $0.rawValue.contains("run 1") }
        }
    }

    @Test func expectNoWarningsOrErrorsPassesWithoutThem() {
        let records = InMemoryLogHandler.Records()
        records.logger(label: "core").notice("fine")
        records.expectNoWarningsOrErrors()
    }
}
