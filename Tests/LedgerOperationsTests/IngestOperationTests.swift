// IngestOperation called as a server would: the input as bytes in memory, the result and errors as values.
import Foundation
import LedgerOperations
import LedgerStore
import LedgerTestSupport
import Testing

@Suite struct IngestOperationTests {
    /// A new ledger in `scratch`.
    func makeLedger(_ scratch: ScratchDirectory) throws -> String {
        let directory = scratch.file("ledger")
        var options = LedgerCreationOptions()
        options.origin = "operations.test/ledger"
        try LedgerWriter.create(directory: directory, options: options)
        return directory
    }

    @Test func bytesInMemoryAreIngestedInFramesAndAgainAsDuplicates() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let data = try Data(contentsOf: Repository.fixture("gladia/prerecorded-result.json"))
        let operation = IngestOperation(directory: directory)
        let request = IngestRequest(kind: "gladia", source: .bytes(data, name: "body"), batchEvents: 2)
        var frames: [Int] = []
        let first = try operation.run(
            request, openWriter: { try LedgerWriter(directory: directory) },
            progress: { progress in
                if case .appended(let results) = progress { frames.append(results.count) }
            })
        #expect(first.appended > 2 && first.duplicate == 0 && first.warnings.isEmpty)
        #expect(frames.allSatisfy { $0 <= 2 } && frames.reduce(0, +) == first.appended)
        let again = try operation.run(
            request, openWriter: { try LedgerWriter(directory: directory) }, progress: { _ in })
        #expect(again.appended == 0 && again.duplicate == first.appended)
        var stored = 0
        try LedgerReader(directory: directory).events(EventSelection()) { _ in stored += 1 }
        #expect(stored == first.appended)
    }

    @Test func bytesOverTheLimitAreRefusedBeforeTheWriterOpens() throws {
        let scratch = ScratchDirectory()
        let directory = try makeLedger(scratch)
        let data = Data(count: IngestOperation.maximumInputBytes + 1)
        var opened = false
        let request = IngestRequest(kind: "gladia", source: .bytes(data, name: "body"))
        #expect {
            try IngestOperation(directory: directory).run(
                request,
                openWriter: {
                    opened = true
                    return try LedgerWriter(directory: directory)
                }, progress: { _ in })
        } throws: { error in
            guard case .tooLarge(let input, let limit) = error as? IngestError else { return false }
            return input == "body" && limit == IngestOperation.maximumInputBytes
                && (error as? IngestError)?.exitCode == 2
        }
        #expect(!opened)
    }
}
