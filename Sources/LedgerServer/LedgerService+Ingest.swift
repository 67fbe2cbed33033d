// Ingest of vendor documents through the node's EventSink: LedgerOperations' IngestOperation (the workflow
// `call-ledger ingest` runs) on a dispatch thread, into the service's one ledger writer (shared with POST
// /v1/events) or, in cluster mode, published to the shard streams (ClusterIngestSink) and, with `?ack=durable`,
// answered once the shard writers report the events durable.
import Dispatch
import Foundation
import LedgerAdapters
import LedgerCluster
import LedgerCore
import LedgerOperations
import LedgerStore

/// One event's acknowledgement in an ingest's answer.
enum IngestAcknowledgement: Sendable {
    /// Ledger mode: appended (durable) or duplicate, at its seq.
    case ledger(AppendResult)
    /// Cluster mode: `replicated`, `duplicate` or `durable` (with its shard ledger's seq), and why it is not
    /// `durable` when that was asked and did not come.
    case cluster(IntakeAcknowledgement, note: String?)

    /// The acknowledgement as the answer lists it: POST /v1/events' line answer of the mode.
    var json: [String: Any] {
        switch self {
        case .ledger(let result):
            return [
                "seq": NSNumber(value: result.seq), "idempotency": result.idempotency,
                "status": result.status.rawValue,
            ]
        case .cluster(let ack, let note):
            var object: [String: Any] = [
                "idempotency": ack.idempotency, "status": ack.status, "shard": ack.shard,
                "stream_seq": NSNumber(value: ack.streamSeq),
            ]
            if let seq = ack.seq { object["seq"] = NSNumber(value: seq) }
            if let note { object["reason"] = note }
            return object
        }
    }

    /// Whether the event was taken now, not a duplicate of one taken before.
    var isNew: Bool {
        switch self {
        case .ledger(let result): result.status == .appended
        case .cluster(let ack, _): ack.status != "duplicate"
        }
    }

    /// Whether the event is durable: always in ledger mode, once reported in cluster mode.
    var isDurable: Bool {
        switch self {
        case .ledger: true
        case .cluster(let ack, _): ack.status == "durable"
        }
    }
}

/// What one ingest through the node did: the operation's result and every acknowledgement, in input order.
struct ServiceIngest: Sendable {
    /// The operation's counts, warnings and rejected records.
    var result: IngestResult
    /// One acknowledgement per event made from the input (appended or duplicate).
    var acknowledgements: [IngestAcknowledgement]
}

/// The shard streams of a cluster as an ingest's sink: each frame published in order, each event once JetStream
/// stored it on a majority of its stream's replicas (the idempotency key as Nats-Msg-Id). A publish that fails ends
/// the ingest with `.delivery`; the events published before stay published, and posting the document again
/// publishes the rest (the others are duplicates).
struct ClusterIngestSink: IngestSink {
    let publisher: ClusterPublisher

    var maximumEventBytes: Int { ClusterPublisher.maximumEventBytes }

    func take(_ frame: [AcceptedEvent]) throws(IngestError) -> [IntakeAcknowledgement] {
        var acks: [IntakeAcknowledgement] = []
        for result in publisher.publishBlocking(frame.map { ($0.line, $0.event) }) {
            switch result {
            case .success(let ack): acks.append(ack)
            case .failure(let error): throw .delivery(error)
            }
        }
        return acks
    }

    func isNew(_ acknowledgement: IntakeAcknowledgement) -> Bool { acknowledgement.status != "duplicate" }

    /// Unknown: a cluster node holds no ledger (kvs-fragments then counts from the first fragment).
    func callStart(of call: String) -> Timestamp? { nil }
}

extension EventSink {
    /// Runs `request` through IngestOperation into this sink on a dispatch thread. In cluster mode with `level`
    /// `.durable`, then waits up to `timeout` seconds for the shard writers' durable reports.
    func ingest(
        _ request: IngestRequest, level: AcknowledgementLevel, timeout: Double
    ) async throws(IngestError) -> ServiceIngest {
        switch self {
        case .ledger(let service): return try await service.ingest(request)
        case .cluster(let publisher):
            let started = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
            let outcome: Result<(IngestResult, [IntakeAcknowledgement]), IngestError> =
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        var acks: [IntakeAcknowledgement] = []
                        let result = Result { () throws(IngestError) in
                            try IngestOperation.run(request, into: ClusterIngestSink(publisher: publisher)) {
                                progress in
                                if case .appended(let taken) = progress { acks += taken }
                            }
                        }
                        continuation.resume(returning: result.map { ($0, acks) })
                    }
                }
            let (result, acks) = try outcome.get()
            return ServiceIngest(
                result: result,
                acknowledgements: await publisher.acknowledgements(acks, level: level, since: started, timeout: timeout)
            )
        }
    }

    /// Takes one frame of events a live relay accepted: appended all or nothing (ledger mode), or published to the
    /// shard streams in order (cluster mode, ClusterIngestSink on a dispatch thread; with `level` `.durable`, then
    /// waits up to `timeout` seconds for the shard writers' durable reports). One acknowledgement per event.
    func take(
        _ frame: [AcceptedEvent], level: AcknowledgementLevel, timeout: Double
    ) async throws(IngestError) -> [IngestAcknowledgement] {
        switch self {
        case .ledger(let service):
            do { return try await service.appendAtomically(frame.map(\.event)).map { .ledger($0) } } catch {
                throw .ledger(error)
            }
        case .cluster(let publisher):
            guard !frame.isEmpty else { return [] }
            let started = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
            let outcome: Result<[IntakeAcknowledgement], IngestError> = await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(
                        returning: Result { () throws(IngestError) in
                            try ClusterIngestSink(publisher: publisher).take(frame)
                        })
                }
            }
            return await publisher.acknowledgements(
                try outcome.get(), level: level, since: started, timeout: timeout)
        }
    }
}

extension ClusterPublisher {
    /// The answer for `acks` published since `since` (nanoseconds since 1970): as they are, or with `level`
    /// `.durable`, once the shard writers reported them durable or `timeout` seconds passed (each not reported then
    /// says why).
    func acknowledgements(
        _ acks: [IntakeAcknowledgement], level: AcknowledgementLevel, since: Int64, timeout: Double
    ) async -> [IngestAcknowledgement] {
        guard level == .durable, !acks.isEmpty else { return acks.map { .cluster($0, note: nil) } }
        switch await awaitDurable(acks, since: since, timeout: timeout) {
        case .success(let reported):
            let note =
                "not reported durable within \(timeout) s: it is replicated in JetStream and its shard's writer "
                + "appends it when it runs (`call-ledger cluster status`)"
            return reported.map { .cluster($0, note: $0.status == "durable" ? nil : note) }
        case .failure(let error):
            let note = "replicated; the durable reports could not be read: \(error)"
            return acks.map { .cluster($0, note: note) }
        }
    }
}

extension LedgerService {
    /// Runs `request` through IngestOperation with the service's writer (left open), on an append thread; the live
    /// streams of the calls it appended to are told.
    func ingest(_ request: IngestRequest) async throws(IngestError) -> ServiceIngest {
        let writer: LedgerWriter
        do { (writer, _) = try requireWriter() } catch { throw .ledger(error) }
        let operation = IngestOperation(directory: directory, keyFilePath: keyFile)
        let outcome: Result<ServiceIngest, IngestError> = await withCheckedContinuation { continuation in
            appendQueue.async {
                var acknowledgements: [IngestAcknowledgement] = []
                let result = Result { () throws(IngestError) in
                    try operation.run(request, writer: writer) { progress in
                        if case .appended(let results) = progress { acknowledgements += results.map { .ledger($0) } }
                    }
                }
                continuation.resume(
                    returning: result.map { ServiceIngest(result: $0, acknowledgements: acknowledgements) })
            }
        }
        let ingested = try outcome.get()
        if ingested.result.appended > 0 {
            if let call = request.call { appended.send([call]) } else { appended.sendUnknownCalls() }
        }
        return ingested
    }
}
