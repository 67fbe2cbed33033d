// The load generators of tools/bench's cluster section, run against a local NATS JetStream cluster (tools/cluster)
// the script started, each printing one JSON line:
//   cluster-ingest: P publisher threads, each with its own connection and ClusterIntake, publish their share of the
//     calls (a call's events stay in order on one publisher) while the shard writers the script started append
//     them; a follower (ClusterIntake.followDurable on its own connection) notes when each event's durable report
//     arrives. Per event: `replicated` latency (publish sent to its PubAck) and `durable` latency (publish sent to
//     its durable report read); events/s from the first publish to the last durable report. With --rate R, the
//     publishers together send R events/s (each its share at an even pace, all finishing together) instead of as
//     fast as PubAcks come. With --batch B (above 1) each publisher sends requests of B lines through
//     ClusterIntake.publish(_:) (pipelined) instead of one synchronous publish per event, its calls taking turns.
//   cluster-failover: two `call-ledger cluster writer` processes of one shard on one ledger, events published at a
//     steady rate; K times: once the active writer appends, kill -9 it, read the lease it left (its last renewal),
//     and time, from the kill and from the lease's expiry (last renewal + TTL), the standby's takeover (its
//     "active" line) and its first new append (its first `durable` line); then start a new standby after a random
//     delay of up to a third of the TTL (its lease polls out of step with the active writer's renewals).
import Dispatch
import Foundation
import LedgerCluster
import LedgerCore
import NATSClient

#if canImport(Glibc)
import Glibc
#endif

/// Milliseconds since 1970 by the wall clock (lease records carry such times).
private func wallMilliseconds() -> Double { Date().timeIntervalSince1970 * 1000 }

/// The deployment named by `--config`.
private func loadConfiguration(_ options: BenchOptions) -> ClusterConfiguration {
    do throws(ClusterError) {
        return try ClusterConfiguration.load(path: options.text("config"))
    } catch {
        fail("\(error)")
    }
}

/// A connection and an intake of their own for one thread.
private func openIntake(_ configuration: ClusterConfiguration, name: String) throws -> ClusterIntake {
    let connection = try NATSConnection(servers: configuration.servers, name: name)
    return try ClusterIntake(configuration: configuration, connection: connection)
}

// MARK: - cluster-ingest

/// `ledger-bench cluster-ingest --config FILE --events FILE [--publishers 8] [--rate R] [--timeout 300]`.
func clusterIngest(_ options: BenchOptions) {
    let configuration = loadConfiguration(options)
    let publishers = options.integer("publishers", 8, in: 1...256)
    let timeout = options.number("timeout", 300)
    let rate = options.number("rate", .infinity)
    let batch = options.integer("batch", 1, in: 1...4096)
    let events = EventLine.read(options.text("events"))
    guard !events.isEmpty else { fail("no events") }
    var publisherOfCall: [String: Int] = [:]
    var shares = [[[UInt8]]](repeating: [], count: publishers)
    var keys = Set<String>()
    for event in events {
        let publisher: Int
        if let known = publisherOfCall[event.call] {
            publisher = known
        } else {
            publisher = publisherOfCall.count % publishers
            publisherOfCall[event.call] = publisher
        }
        shares[publisher].append(event.bytes)
        guard let key = EventLine.string(event.bytes[...], "idempotency") else { fail("an event has no idempotency") }
        keys.insert(key)
    }
    guard keys.count == events.count else { fail("the events repeat an idempotency key") }
    // Pipelined requests model a serve node carrying many calls at once: a publisher's calls take turns, one event
    // each (every call's events in order), so a request holds runs of distinct calls.
    let lines = batch == 1 ? shares : shares.map(interleavedByCall)
    struct Followed: Sendable {
        var arrived: [String: UInt64] = [:]
        var problem: String?
    }
    let published = Shared(Published())
    let followed = Shared(Followed())
    let followerDone = DispatchSemaphore(value: 0)
    let since = Int64(wallMilliseconds() - 1000) * 1_000_000
    let expected = keys
    let follower = Thread {
        do {
            let intake = try openIntake(configuration, name: "ledger-bench follower")
            var arrived: [String: UInt64] = [:]
            try intake.followDurable(since: since, timeout: timeout) { _, report in
                if expected.contains(report.idempotency) && arrived[report.idempotency] == nil {
                    arrived[report.idempotency] = nowNanoseconds()
                }
                return arrived.count < expected.count
            }
            followed.withLock { $0.arrived = arrived }
        } catch {
            followed.withLock { $0.problem = "\(error)" }
        }
        followerDone.signal()
    }
    follower.start()
    let start = nowNanoseconds()
    onThreads(publishers) { index in
        var mine = Published()
        do {
            let intake = try openIntake(configuration, name: "ledger-bench publisher \(index)")
            guard batch == 1 else {
                try publishPipelined(lines[index], batch: batch, intake: intake, into: &mine)
                published.withLock { $0.merge(mine) }
                return
            }
            let count = lines[index].count
            for (number, line) in lines[index].enumerated() {
                if rate.isFinite {
                    // This publisher's share of the rate is its share of the events.
                    let due = start + UInt64(Double(number) * Double(events.count) / (rate * Double(count)) * 1e9)
                    let now = nowNanoseconds()
                    if due > now { usleep(UInt32(min((due - now) / 1000, 1_000_000))) }
                }
                let sent = nowNanoseconds()
                let ack = try intake.publish(line: line, lineNumber: number + 1)
                let acknowledged = nowNanoseconds()
                mine.firstSent = min(mine.firstSent, sent)
                mine.lastAcknowledged = acknowledged
                mine.sent[ack.idempotency] = sent
                mine.replicated.append(milliseconds(from: sent, to: acknowledged))
                mine.perShard[ack.shard, default: 0] += 1
                if ack.status == "duplicate" { mine.duplicates += 1 }
            }
        } catch {
            mine.problems.append("\(error)")
        }
        published.withLock { $0.merge(mine) }
    }
    followerDone.wait()
    let publish = published.withLock { $0 }
    let follow = followed.withLock { $0 }
    guard publish.problems.isEmpty else { fail("cluster-ingest: \(publish.problems[0])") }
    if let problem = follow.problem { fail("cluster-ingest: following durable reports: \(problem)") }
    guard follow.arrived.count == events.count else {
        fail(
            "cluster-ingest: \(events.count - follow.arrived.count) of \(events.count) events not durable in \(timeout) s"
        )
    }
    var durable: [Double] = []
    var lastDurable: UInt64 = 0
    for (key, sent) in publish.sent {
        guard let arrived = follow.arrived[key] else { continue }
        durable.append(milliseconds(from: sent, to: arrived))
        lastDurable = max(lastDurable, arrived)
    }
    let replicatedSeconds = Double(publish.lastAcknowledged - publish.firstSent) / 1e9
    let durableSeconds = Double(lastDurable - publish.firstSent) / 1e9
    let rateText = rate.isFinite ? "\(Int(rate))" : "null"
    let shards = (0..<configuration.shards).map { String(publish.perShard[$0] ?? 0) }.joined(separator: ",")
    print(
        "{\"events\":\(events.count),\"publishers\":\(publishers),\"rate\":\(rateText),\"shards\":\(configuration.shards),"
            + "\"batch\":\(batch),\"shard_events\":[\(shards)],\"duplicates\":\(publish.duplicates),"
            + "\"replicated_seconds\":\(decimals(replicatedSeconds)),\"durable_seconds\":\(decimals(durableSeconds)),"
            + "\"replicated_events_per_second\":\(Int((Double(events.count) / replicatedSeconds).rounded())),"
            + "\"events_per_second\":\(Int((Double(events.count) / durableSeconds).rounded())),"
            + "\(percentileMembers("replicated", publish.replicated)),\(percentileMembers("durable", durable))}")
}

/// `lines` with their calls taking turns, one event each, every call's events in order.
private func interleavedByCall(_ lines: [[UInt8]]) -> [[UInt8]] {
    var calls: [String] = []
    var perCall: [String: [[UInt8]]] = [:]
    for line in lines {
        let call = EventLine.string(line[...], "call") ?? ""
        if perCall[call] == nil { calls.append(call) }
        perCall[call, default: []].append(line)
    }
    var merged: [[UInt8]] = []
    var turn = 0
    while merged.count < lines.count {
        for call in calls where turn < perCall[call, default: []].count {
            merged.append(perCall[call, default: []][turn])
        }
        turn += 1
    }
    return merged
}

/// What publishers sent and JetStream acknowledged, per event key.
private struct Published: Sendable {
    var sent: [String: UInt64] = [:]
    var replicated: [Double] = []
    var perShard: [Int: Int] = [:]
    var duplicates = 0
    var firstSent = UInt64.max
    var lastAcknowledged: UInt64 = 0
    var problems: [String] = []

    mutating func merge(_ other: Published) {
        sent.merge(other.sent) { first, _ in first }
        replicated += other.replicated
        perShard.merge(other.perShard, uniquingKeysWith: +)
        duplicates += other.duplicates
        firstSent = min(firstSent, other.firstSent)
        lastAcknowledged = max(lastAcknowledged, other.lastAcknowledged)
        problems += other.problems
    }
}

/// Publishes `lines` in requests of `batch` lines through `ClusterIntake.publish(_:)` (pipelined: the events of
/// distinct calls in flight together); each event's `replicated` latency is its request's, sent to answered.
private func publishPipelined(
    _ lines: [[UInt8]], batch: Int, intake: ClusterIntake, into mine: inout Published
) throws {
    for start in stride(from: 0, to: lines.count, by: batch) {
        var events: [(line: [UInt8], event: DecodedEvent)] = []
        for number in start..<min(start + batch, lines.count) {
            events.append((lines[number], try intake.decode(line: lines[number], lineNumber: number + 1)))
        }
        let sent = nowNanoseconds()
        let results = intake.publish(events)
        let acknowledged = nowNanoseconds()
        mine.firstSent = min(mine.firstSent, sent)
        mine.lastAcknowledged = acknowledged
        for result in results {
            let ack = try result.get()
            mine.sent[ack.idempotency] = sent
            mine.replicated.append(milliseconds(from: sent, to: acknowledged))
            mine.perShard[ack.shard, default: 0] += 1
            if ack.status == "duplicate" { mine.duplicates += 1 }
        }
    }
}

// MARK: - cluster-failover

/// A `call-ledger cluster writer` process whose output lines are noted with their arrival times.
private final class WriterProcess {
    let process = Process()
    let id: String
    /// (arrival, line) of standard output and of standard error, in order.
    let output = Shared<[(UInt64, String)]>([])
    let errors = Shared<[(UInt64, String)]>([])

    init(cli: String, arguments: [String], id: String) throws {
        self.id = id
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = arguments + ["--id", id]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        Self.collect(stdout.fileHandleForReading, into: output)
        Self.collect(stderr.fileHandleForReading, into: errors)
    }

    /// Reads `handle` on a thread of its own, noting each complete line with the time its bytes arrived.
    private static func collect(_ handle: FileHandle, into lines: Shared<[(UInt64, String)]>) {
        Thread {
            var pending: [UInt8] = []
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                let arrived = nowNanoseconds()
                pending += chunk
                var complete: [(UInt64, String)] = []
                while let newline = pending.firstIndex(of: 0x0A) {
                    complete.append((arrived, String(decoding: pending[..<newline], as: UTF8.self)))
                    pending.removeFirst(newline + 1)
                }
                lines.withLock { $0 += complete }
            }
        }.start()
    }

    /// When it said it holds the lease, the first time after `after`.
    func activeSince(after: UInt64) -> UInt64? {
        errors.withLock { $0.first { $0.0 > after && $0.1.contains(": active (lease revision") }?.0 }
    }

    /// When its first line of a newly appended event (status durable) arrived at or after `after`.
    func firstAppend(after: UInt64) -> UInt64? {
        output.withLock { $0.first { $0.0 >= after && $0.1.contains("\"status\":\"durable\"") }?.0 }
    }

    func kill9() { kill(process.processIdentifier, SIGKILL) }
}

/// `ledger-bench cluster-failover --config FILE --cli PATH --ledger DIR --events FILE [--kills 6] [--rate 200]`.
func clusterFailover(_ options: BenchOptions) {
    let configuration = loadConfiguration(options)
    let cli = options.text("cli")
    let ledger = options.text("ledger")
    let kills = options.integer("kills", 6, in: 1...100)
    let rate = options.number("rate", 200)
    let events = EventLine.read(options.text("events"))
    let writerArguments = [
        "cluster", "writer", "--config", options.text("config"), "--shard", "0", "--ledger", ledger,
    ]
    let ttl = configuration.leaseTTLSeconds
    let stopping = Shared(false)
    let publisherState = Shared<(count: Int, problem: String?)>((0, nil))
    let publisherDone = DispatchSemaphore(value: 0)
    let lines = events.map(\.bytes)
    Thread {
        do {
            let intake = try openIntake(configuration, name: "ledger-bench failover publisher")
            let start = nowNanoseconds()
            for (number, line) in lines.enumerated() {
                if stopping.withLock({ $0 }) { break }
                let due = start + UInt64(Double(number) / rate * 1e9)
                let now = nowNanoseconds()
                if due > now { usleep(UInt32(min((due - now) / 1000, 1_000_000))) }
                _ = try intake.publish(line: line, lineNumber: number + 1)
                publisherState.withLock { $0.count = number + 1 }
            }
            if !stopping.withLock({ $0 }) {
                publisherState.withLock { $0.problem = "the \(lines.count) events ran out before the last kill" }
            }
        } catch {
            publisherState.withLock { $0.problem = "\(error)" }
        }
        publisherDone.signal()
    }.start()
    var writers: [WriterProcess] = []
    var nextID = 0
    func startWriter() {
        do {
            writers.append(try WriterProcess(cli: cli, arguments: writerArguments, id: "w\(nextID)"))
            nextID += 1
        } catch {
            fail("cannot start \(cli): \(error)")
        }
    }
    func stopAll() {
        stopping.withLock { $0 = true }
        for writer in writers { writer.kill9() }
        for writer in writers { writer.process.waitUntilExit() }
        publisherDone.wait()
    }
    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard condition else {
            stopAll()
            fail("cluster-failover: \(message())")
        }
    }
    // The connection outlives the bucket handle: the bucket does not keep it open.
    let connection: NATSConnection
    let bucket: KeyValueBucket
    do {
        connection = try NATSConnection(servers: configuration.servers, name: "ledger-bench lease reader")
        bucket = try connection.keyValueBucket(configuration.leaseBucket, ttl: ttl, replicas: configuration.replicas)
        startWriter()
        startWriter()
    } catch {
        fail("cluster-failover: \(error)")
    }
    var killToTakeover: [Double] = []
    var killToAppend: [Double] = []
    var expiryToTakeover: [Double] = []
    var expiryToAppend: [Double] = []
    var activeAfter: UInt64 = 0
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<kills {
        // The active writer, once it appends.
        let deadline = Date().addingTimeInterval(60)
        var active: WriterProcess?
        while active == nil && Date() < deadline {
            active = writers.first { writer in
                writer.activeSince(after: activeAfter).map { writer.firstAppend(after: $0) != nil } ?? false
            }
            if active == nil { usleep(10_000) }
            if let problem = publisherState.withLock({ $0.problem }) { check(false, problem) }
        }
        guard let active else {
            check(false, "no writer took the lease and appended within 60 s")
            return
        }
        usleep(UInt32.random(in: 300_000...1_000_000, using: &generator))
        active.kill9()
        let killed = nowNanoseconds()
        let killedWall = wallMilliseconds()
        active.process.waitUntilExit()
        writers.removeAll { $0 === active }
        let lease: LeaseState?
        do {
            lease = try ShardLease.read(bucket: bucket, key: configuration.leaseKey(shard: 0))
        } catch {
            check(false, "reading the lease: \(error)")
            return
        }
        guard let lease else {
            check(false, "the lease expired before it could be read after the kill")
            return
        }
        check(lease.record.holder == active.id, "the lease is held by \(lease.record.holder), not \(active.id)")
        let expiryAfterKill = Double(lease.record.renewedMs) + ttl * 1000 - killedWall
        var takeover: UInt64?
        var append: UInt64?
        let waitUntil = Date().addingTimeInterval(ttl * 4 + 30)
        while append == nil && Date() < waitUntil {
            for writer in writers {
                if let since = writer.activeSince(after: killed), let first = writer.firstAppend(after: since) {
                    takeover = since
                    append = first
                }
            }
            if append == nil { usleep(5_000) }
        }
        guard let takeover, let append else {
            check(false, "no standby appended within \(ttl * 4 + 30) s of the kill")
            return
        }
        activeAfter = killed
        let toTakeover = milliseconds(from: killed, to: takeover)
        let toAppend = milliseconds(from: killed, to: append)
        killToTakeover.append(toTakeover)
        killToAppend.append(toAppend)
        expiryToTakeover.append(toTakeover - expiryAfterKill)
        expiryToAppend.append(toAppend - expiryAfterKill)
        FileHandle.standardError.write(
            Data(
                ("ledger-bench: kill \(killToAppend.count)/\(kills): expiry \(decimals(expiryAfterKill)) ms after the "
                    + "kill; takeover \(decimals(toTakeover)) ms, first append \(decimals(toAppend)) ms after it\n")
                    .utf8))
        // The new standby polls the lease every third of its TTL from when it starts: a random start keeps its
        // polls out of step with the renewals of the writer that just took over (in step, every expiry would
        // find the standby's next poll at the same offset).
        usleep(UInt32.random(in: 0..<UInt32(ttl / 3 * 1_000_000), using: &generator))
        startWriter()
    }
    stopAll()
    withExtendedLifetime(connection) {}
    if let problem = publisherState.withLock({ $0.problem }), !problem.contains("ran out") {
        fail("cluster-failover: publishing: \(problem)")
    }
    let runs = zip(killToTakeover, killToAppend).map { "[\(decimals($0)),\(decimals($1))]" }.joined(separator: ",")
    print(
        "{\"kills\":\(kills),\"lease_ttl_seconds\":\(ttl),\"published\":\(publisherState.withLock { $0.count }),"
            + "\(percentileMembers("kill_to_takeover", killToTakeover)),"
            + "\(percentileMembers("kill_to_append", killToAppend)),"
            + "\(percentileMembers("expiry_to_takeover", expiryToTakeover)),"
            + "\(percentileMembers("expiry_to_append", expiryToAppend)),\"kill_to_takeover_and_append_ms\":[\(runs)]}")
}
