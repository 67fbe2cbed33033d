// POST /v1/events in cluster mode: each valid line published to its shard's JetStream stream (ClusterPublisher)
// and answered `replicated`/`duplicate` once JetStream stored it, or, with ?ack=durable, once the request's body
// ended and the shard writers reported each event fsynced: `durable` with its ledger seq, never before.
import Foundation
import Hummingbird
import LedgerCluster
import LedgerCore

extension EventsRoute {
    /// Cluster mode: publishes each batch of lines; answers each line at once (`replicated`) or once every event
    /// of the request was reported durable or the wait ran out (`durable`).
    struct ClusterPublishing: EventLineConsumer, Sendable {
        let route: EventsRoute
        let publisher: ClusterPublisher
        let level: AcknowledgementLevel
        /// Seconds to wait for the durable reports once the body ended.
        let ackTimeout: Double
        /// When the request started, in nanoseconds since 1970 (the durable reports are read from there).
        let started: Int64
        /// With `level == .durable`: the answer of each line so far, in input order.
        private var held: [Answer] = []

        init(
            route: EventsRoute, publisher: ClusterPublisher, level: AcknowledgementLevel, ackTimeout: Double,
            started: Int64
        ) {
            self.route = route
            self.publisher = publisher
            self.level = level
            self.ackTimeout = ackTimeout
            self.started = started
        }

        /// One line's answer.
        enum Answer {
            case acknowledged(IntakeAcknowledgement, note: String?)
            case rejected(EventDecodingError)

            var json: [UInt8] {
                switch self {
                case .rejected(let error): return LineOutcome.rejected(error).json
                case .acknowledged(let ack, let note):
                    var out: [UInt8] = []
                    out.appendASCII("{")
                    if let seq = ack.seq {
                        out.appendASCII("\"seq\":")
                        out.appendJSONInteger(seq)
                        out.appendASCII(",")
                    }
                    out.appendASCII("\"idempotency\":")
                    out.appendJSONString(ack.idempotency)
                    out.appendASCII(",\"status\":")
                    out.appendJSONString(ack.status)
                    out.appendASCII(",\"shard\":")
                    out.appendJSONInteger(ack.shard)
                    out.appendASCII(",\"stream_seq\":")
                    out.appendJSONInteger(ack.streamSeq)
                    if let note {
                        out.appendASCII(",\"reason\":")
                        out.appendJSONString(note)
                    }
                    out.appendASCII("}\n")
                    return out
                }
            }
        }

        mutating func consume(
            _ decoded: [DecodedLine], writer: inout any ResponseBodyWriter, outcome: inout StreamOutcome
        ) async throws -> Bool {
            guard !decoded.isEmpty else { return true }
            let events = decoded.compactMap { line in (try? line.result.get()).map { (line: line.bytes, event: $0) } }
            let start = ContinuousClock.now
            var published = await publisher.publish(events).makeIterator()
            let elapsed = (ContinuousClock.now - start).components
            route.publishLatency.recordNanoseconds(
                elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
            var answers: [Answer] = []
            var failure: ClusterError?
            for line in decoded {
                switch line.result {
                case .failure(let error):
                    outcome.rejected += 1
                    route.rejected.increment()
                    answers.append(.rejected(error))
                case .success:
                    switch published.next() {
                    case .success(let ack):
                        if ack.status == "duplicate" {
                            outcome.duplicates += 1
                            route.duplicates.increment()
                        } else {
                            outcome.appended += 1
                            route.published.increment()
                        }
                        answers.append(.acknowledged(ack, note: nil))
                    case .failure(let error): failure = error
                    case nil: break
                    }
                }
                if failure != nil { break }
            }
            if level == .durable {
                held += answers
            } else {
                try await writer.write(ByteBuffer(bytes: answers.flatMap(\.json)))
            }
            if let failure {
                outcome.failure =
                    "publishing to the cluster failed, the lines after it were not acknowledged (send them again: the ones stored are dropped as duplicates): \(failure)"
                try await finish(writer: &writer, outcome: &outcome)
                return false
            }
            return true
        }

        mutating func finish(writer: inout any ResponseBodyWriter, outcome: inout StreamOutcome) async throws {
            guard level == .durable, !held.isEmpty else { return }
            let acks = held.compactMap { answer -> IntakeAcknowledgement? in
                if case .acknowledged(let ack, _) = answer { return ack }
                return nil
            }
            let durable: [IntakeAcknowledgement]
            let note: String
            switch await publisher.awaitDurable(acks, since: started, timeout: ackTimeout) {
            case .success(let reported):
                durable = reported
                note =
                    "not reported durable within \(ackTimeout) s: it is replicated in JetStream and its shard's "
                    + "writer appends it when it runs (`call-ledger cluster status`)"
            case .failure(let error):
                durable = acks
                note = "replicated; the durable reports could not be read: \(error)"
            }
            var next = durable.makeIterator()
            var out: [UInt8] = []
            for answer in held {
                guard case .acknowledged = answer, let ack = next.next() else {
                    out += answer.json
                    continue
                }
                out += Answer.acknowledged(ack, note: ack.status == "durable" ? nil : note).json
            }
            held = []
            try await writer.write(ByteBuffer(bytes: out))
        }
    }
}
