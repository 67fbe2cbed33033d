// Ingest through the service's one writer: LedgerOperations' IngestOperation (the workflow `call-ledger ingest`
// runs) on the service's append threads, with the writer it shares with POST /v1/events.
import Foundation
import LedgerAdapters
import LedgerOperations
import LedgerStore

/// What one ingest through the service did: the operation's result and every acknowledgement, in input order.
struct ServiceIngest: Sendable {
    /// The operation's counts, warnings and rejected records.
    var result: IngestResult
    /// One acknowledgement per event made from the input (appended or duplicate).
    var acknowledgements: [AppendResult]
}

extension LedgerService {
    /// Runs `request` through IngestOperation with the service's writer (left open), on an append thread; the live
    /// streams of the calls it appended to are told.
    func ingest(_ request: IngestRequest) async throws(IngestError) -> ServiceIngest {
        let writer = self.writer
        let operation = IngestOperation(directory: directory, keyFilePath: keyFile)
        let outcome: Result<ServiceIngest, IngestError> = await withCheckedContinuation { continuation in
            appendQueue.async {
                var acknowledgements: [AppendResult] = []
                let result = Result { () throws(IngestError) in
                    try operation.run(request, writer: writer) { progress in
                        if case .appended(let results) = progress { acknowledgements += results }
                    }
                }
                continuation.resume(
                    returning: result.map { ServiceIngest(result: $0, acknowledgements: acknowledgements) })
            }
        }
        let ingested = try outcome.get()
        if ingested.acknowledgements.contains(where: { $0.status == .appended }) {
            if let call = request.call { appended.send([call]) } else { appended.sendUnknownCalls() }
        }
        return ingested
    }
}
