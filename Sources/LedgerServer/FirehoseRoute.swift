// POST /v1/firehose/{source}: an Amazon Data Firehose HTTP endpoint, request and response format 1.0 as AWS
// documents it ("Understand HTTP endpoint delivery request and response specifications",
// https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html): the stream's access key in
// `X-Amz-Firehose-Access-Key`, the request id in `X-Amz-Firehose-Request-Id` (the same on every retry), the body
// optionally gzip-compressed (`Content-Encoding: gzip`), `{"requestId", "timestamp", "records": [{"data": base64}]}`;
// the answer `{"requestId", "timestamp"}` with 200, or `{"requestId", "timestamp", "errorMessage"}` with another
// status, which Firehose retries and finally backs up to S3. Each record is one Amazon Connect contact record or
// one Contact Lens real-time event (the source's `records`), ingested through IngestOperation as one JSON-lines
// input: a redelivered request appends nothing (the adapters' idempotency keys), and a record that cannot be
// read is named in the errorMessage while the others are appended.
import CompressNIO
import Foundation
import Hummingbird
import LedgerAdapters
import LedgerOperations
import Logging

/// The handler of `POST /v1/firehose/{source}`.
struct FirehoseRoute: Sendable {
    let sink: EventSink
    let sources: [String: PushSource]
    let maxBodyBytes: Int

    /// The largest body read, compressed or not.
    var limit: Int { min(maxBodyBytes, IngestOperation.maximumInputBytes) }

    /// A Firehose answer: 200 with `{requestId, timestamp}`, else with `errorMessage` too.
    static func answer(_ status: HTTPResponse.Status, requestID: String, error: String? = nil) -> Response {
        var object: [String: Any] = [
            "requestId": requestID, "timestamp": Int((Date().timeIntervalSince1970 * 1000).rounded()),
        ]
        if let error { object["errorMessage"] = error }
        return IngestHTTP.json(status, object)
    }

    func handle(_ request: Request, source name: String, logger: Logger) async -> Response {
        let requestID = IngestHTTP.header(request, "x-amz-firehose-request-id") ?? ""
        var logger = logger
        logger[metadataKey: "firehose_request"] = "\(requestID)"
        logger[metadataKey: "firehose_source"] = "\(name)"
        func fail(_ status: HTTPResponse.Status, _ message: String) -> Response {
            logger.warning("firehose request refused", metadata: ["status": "\(status.code)", "reason": "\(message)"])
            return Self.answer(status, requestID: requestID, error: message)
        }
        guard let source = sources[name] else {
            return fail(.notFound, "no Firehose source '\(name)' is configured (firehose: in the config file)")
        }
        guard let key = IngestHTTP.header(request, "x-amz-firehose-access-key"), source.accepts(key) else {
            return fail(.unauthorized, "the X-Amz-Firehose-Access-Key header is missing or not this source's key")
        }
        guard !requestID.isEmpty else { return fail(.badRequest, "the X-Amz-Firehose-Request-Id header is missing") }
        guard let (level, wait) = try? AcknowledgementLevel.parse(request) else {
            return fail(
                .badRequest,
                "the endpoint URL's ack must be replicated or durable, and ack_timeout a number of seconds above 0 "
                    + "and at most 300")
        }
        guard IngestHTTP.mediaType(request) == "application/json" else {
            return fail(.unsupportedMediaType, "Firehose requests are application/json")
        }
        var body: ByteBuffer
        do { body = try await IngestHTTP.body(request, limit: limit) } catch {
            return fail(.contentTooLarge, "the body is over the \(limit)-byte limit")
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity": break
        case "gzip":
            do { body = try body.decompress(with: .gzip(), maxSize: limit) } catch let error as CompressNIOError {
                guard error == .bufferOverflow else { return fail(.badRequest, "the body is not valid gzip") }
                return fail(.contentTooLarge, "the body decompresses to more than \(limit) bytes")
            } catch {
                return fail(.badRequest, "the body is not valid gzip")
            }
        case let other?: return fail(.unsupportedMediaType, "Content-Encoding \(other) is not supported (gzip is)")
        }
        let records: [Any]
        do {
            records = try Self.records(Data(body.readableBytesView), requestID: requestID)
        } catch let error as FirehoseBodyError {
            return fail(.badRequest, error.message)
        } catch {
            return fail(.badRequest, "the body is not JSON: \(error.localizedDescription)")
        }
        // One line per record; a record that cannot be decoded is left out and reported with its index.
        var lines: [[UInt8]] = []
        var recordOfLine: [Int] = []
        var unreadable: [String] = []
        for (index, record) in records.enumerated() {
            guard let object = record as? [String: Any], let text = object["data"] as? String,
                let data = Data(base64Encoded: text)
            else {
                unreadable.append("record \(index): data is not a base64 string")
                continue
            }
            // JSON text holds no raw line breaks inside strings: the record's own ones are whitespace.
            let line = data.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else {
                unreadable.append("record \(index): data is empty")
                continue
            }
            // A record that is not JSON is left out here: the adapters read a stream of JSON values, where one
            // cut short would swallow the records after it.
            guard (try? JSONSerialization.jsonObject(with: Data(line))) != nil else {
                unreadable.append("record \(index): data is not a JSON document")
                continue
            }
            lines.append(line)
            recordOfLine.append(index)
        }
        var appended = 0
        var duplicate = 0
        var notDurable = 0
        if !lines.isEmpty {
            let input = "firehose \(name) request \(requestID)"
            let joined = Data(lines.joined(separator: [0x0A]))
            let ingest = IngestRequest(kind: source.records, source: .bytes(joined, name: input), tenant: source.tenant)
            do {
                let outcome = try await sink.ingest(ingest, level: level, timeout: wait)
                notDurable = outcome.acknowledgements.count { !$0.isDurable }
                appended = outcome.result.appended
                duplicate = outcome.result.duplicate
                unreadable += outcome.result.rejected.map { Self.describe($0, input, recordOfLine) }
            } catch {
                switch error {
                case .ledger, .openingWriter, .delivery:
                    return fail(.serviceUnavailable, "the events could not be stored: \(error)")
                case .refused(_, _, _, let rejected, _) where !rejected.isEmpty:
                    unreadable += rejected.map { Self.describe($0, input, recordOfLine) }
                case .rejected(let rejection, _): unreadable.append(Self.describe(rejection, input, recordOfLine))
                default: unreadable.append("\(error)")
                }
            }
        }
        logger.info(
            "firehose request done",
            metadata: [
                "records": "\(records.count)", "appended": "\(appended)", "duplicate": "\(duplicate)",
                "unreadable": "\(unreadable.count)",
            ])
        guard unreadable.isEmpty else {
            return fail(
                .badRequest,
                "\(unreadable.count) of \(records.count) record(s) could not be read (the others were appended: "
                    + "\(appended) event(s) new, \(duplicate) already there): " + unreadable.joined(separator: "; "))
        }
        if level == .durable, notDurable > 0 {
            return fail(
                .serviceUnavailable,
                "\(notDurable) event(s) were not reported durable within \(wait) s; they are replicated in the "
                    + "cluster and a retry of this request appends nothing")
        }
        return Self.answer(.ok, requestID: requestID)
    }

    /// An adapter's rejection of a line, named by the Firehose record it came from.
    static func describe(_ error: AdapterError, _ input: String, _ recordOfLine: [Int]) -> String {
        let record = IngestHTTP.line(of: error, input: input).flatMap {
            $0 >= 1 && $0 <= recordOfLine.count ? recordOfLine[$0 - 1] : nil
        }
        let path = error.path.isEmpty ? "" : " at \(error.path)"
        return "\(record.map { "record \($0)" } ?? "a record")\(path): \(error.reason)"
    }

    /// The `records` of a Firehose request body, checked against the header's request id.
    static func records(_ data: Data, requestID: String) throws -> [Any] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FirehoseBodyError(message: "the body must be a JSON object {requestId, timestamp, records}")
        }
        guard let bodyID = object["requestId"] as? String else {
            throw FirehoseBodyError(message: "requestId is missing or not a string")
        }
        guard bodyID == requestID else {
            throw FirehoseBodyError(
                message: "requestId \(bodyID) differs from the X-Amz-Firehose-Request-Id header \(requestID)")
        }
        guard let timestamp = object["timestamp"], timestamp is Int || timestamp is Double || timestamp is NSNumber,
            !(timestamp is Bool)
        else {
            throw FirehoseBodyError(message: "timestamp is missing or not a number (milliseconds since 1970)")
        }
        guard let records = object["records"] as? [Any] else {
            throw FirehoseBodyError(message: "records is missing or not an array")
        }
        return records
    }
}

/// A Firehose body that does not follow the request format.
struct FirehoseBodyError: Error {
    var message: String
}
