// `call-ledger serve --read-only`: the parts of the service that differ when it holds no writer. Every write route
// answers 503 saying where writes go; a read that opens personal data logs its `access.granted` through the
// cluster the ledger is a shard of (published, then followed in the log until it is there), or is refused with
// 503 when there is no such cluster; the live streams follow the log another process writes.
import Foundation
import Hummingbird
import LedgerCluster
import LedgerCore
import LedgerStore

/// The 503 answers of a read-only service.
struct ReadOnlyRefusal: Sendable {
    /// The ledger served.
    let directory: String
    /// The cluster deployment file given with `--read-only`, if any.
    let clusterFile: String?

    /// The 503 of a write: the service is read-only, and who appends to this ledger.
    func write(_ route: String) -> HTTPError {
        HTTPError(.serviceUnavailable, message: writeMessage(route))
    }

    /// The message of `write(_:)`, for answers in another format (Firehose's).
    func writeMessage(_ route: String) -> String {
        var message =
            "this server serves the ledger \(directory) read-only (serve --read-only) and appends nothing, so "
            + "\(route) is not taken here: send writes to the process that appends to this ledger"
        if let holder = lockHolder() { message += " (its LOCK file names the last writer: \(holder))" }
        if let clusterFile {
            message +=
                ", which for a cluster shard is its `call-ledger cluster writer`: post them to an intake node "
                + "(`call-ledger serve --cluster \(clusterFile)`)"
        } else {
            message += ": `call-ledger serve --ledger \(directory)` without --read-only, or `call-ledger append`"
        }
        return message
    }

    /// The 503 of a read that would open personal data when no `access.granted` can be logged.
    func personalData(_ what: String) -> HTTPError {
        HTTPError(
            .serviceUnavailable,
            message:
                "\(what) opens personal data, which is answered only once an access.granted event recording it is "
                + "durable in the ledger; this server serves \(directory) read-only and has no way to log it: ask "
                + "a server that writes this ledger (serve without --read-only), or start this one with --cluster "
                + "FILE when the ledger is a cluster shard, so that the event is published to its shard")
    }

    /// Who holds the ledger's writer lock, as its `LOCK` file says (`pid N`); nil when no one wrote it. Reading
    /// the file takes no lock.
    private func lockHolder() -> String? {
        guard let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent("LOCK"))
        else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

/// How the service records `access.granted` before an answer that opens personal data.
enum AccessLog: Sendable {
    /// Appended by the service's own writer.
    case writer
    /// Read-only without a cluster: such reads are refused.
    case unavailable(ReadOnlyRefusal)
    /// Read-only on a cluster shard: published to the cluster, then awaited in this ledger for up to `wait`.
    case cluster(ClusterPublisher, wait: Duration)

    /// How long a read waits for its published `access.granted` to reach the ledger.
    static let clusterWait = Duration.seconds(10)
}

extension ReadRoutes {
    /// Refuses at once, before any data is read, a read that opens personal data when no access can be logged.
    func requireAccessLog(_ what: String) throws {
        if case .unavailable(let refusal) = access { throw refusal.personalData(what) }
    }

    /// Makes `grant` durable in the ledger before the answer: appended by the writer, or published to the
    /// cluster and followed in the log until it is there (503 after `AccessLog.clusterWait`).
    func record(_ grant: AccessGranted) async throws {
        let event: DecodedEvent
        do { event = try grant.event(maximumEventBytes: service.maximumEventBytes) } catch {
            throw APIError.badRequest("cannot record the access (\(error.field): \(error.reason))")
        }
        switch access {
        case .writer:
            _ = try await ledger { () async throws(LedgerError) in try await service.append([event]) }
        case .unavailable(let refusal):
            throw refusal.personalData("this read")
        case .cluster(let publisher, let wait):
            try await publish(grant, event: event, through: publisher, wait: wait)
        }
    }

    /// Publishes `event` (of `grant`) to its shard's stream and waits until this ledger holds it.
    private func publish(
        _ grant: AccessGranted, event: DecodedEvent, through publisher: ClusterPublisher, wait: Duration
    ) async throws {
        let start = ContinuousClock.now
        var from = try await ledger { () async throws(LedgerError) in try await service.size() }
        let results = await publisher.publish([(line: grant.interchangeLine(), event: event)])
        guard case .success = results.first else {
            let reason: String
            if case .failure(let error) = results.first { reason = "\(error)" } else { reason = "no answer" }
            throw HTTPError(
                .serviceUnavailable,
                message: "the access.granted event this read needs could not be published to the cluster: \(reason)")
        }
        let key = "access:" + grant.request
        while true {
            let (found, size) = try await ledger { () async throws(LedgerError) in
                try await service.contains(idempotency: key, from: from)
            }
            if found { return }
            from = size
            guard ContinuousClock.now - start < wait else {
                let shard = publisher.configuration.shard(tenant: grant.tenant, call: grant.call)
                throw HTTPError(
                    .serviceUnavailable,
                    message:
                        "the access.granted event this read needs was published to shard \(shard) but did not reach "
                        + "the ledger \(service.directory) within \(wait): check that this ledger is shard \(shard)'s "
                        + "and that its writer runs (`call-ledger cluster status`); nothing was answered")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension RouteTable {
    /// Registers the write routes of a read-only service, each answering 503 with `refusal`'s reason: POST
    /// /v1/events and /v1/ingest/{kind} and GET /v1/live/{call} after their token and role check, the push sources
    /// (which authenticate themselves) at once.
    mutating func readOnlyWriteRoutes(_ refusal: ReadOnlyRefusal) {
        on(.post, "/v1/events", .appendEvents) { _, _, _ in throw refusal.write("POST /v1/events") }
        on(.post, "/v1/ingest/{kind}", .ingestDocument) { _, _, _ in throw refusal.write("POST /v1/ingest/{kind}") }
        open(.post, "/v1/webhooks/gladia") { _, _ -> Response in throw refusal.write("POST /v1/webhooks/gladia") }
        open(.post, "/v1/firehose/{source}") { request, _ -> Response in
            FirehoseRoute.answer(
                .serviceUnavailable, requestID: IngestHTTP.header(request, "x-amz-firehose-request-id") ?? "",
                error: refusal.writeMessage("POST /v1/firehose/{source}"))
        }
        on(.get, "/v1/live/{call}", .liveRelay) { _, _, _ in throw refusal.write("the live relay /v1/live/{call}") }
    }
}

/// Where a ledger's log ends on disk: its newest segment and that file's size. Another process's append changes it.
struct LogStamp: Equatable {
    var segment: String
    var bytes: UInt64

    /// The stamp of the ledger in `directory` now (empty when its segments cannot be listed).
    static func now(_ directory: String) -> LogStamp {
        let segments = (directory as NSString).appendingPathComponent("segments")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: segments)) ?? []
        guard let newest = names.filter({ $0.hasSuffix(".zst") }).max() else { return LogStamp(segment: "", bytes: 0) }
        let path = (segments as NSString).appendingPathComponent(newest)
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber
        return LogStamp(segment: newest, bytes: size?.uint64Value ?? 0)
    }
}
