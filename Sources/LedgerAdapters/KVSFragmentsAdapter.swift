// Kinesis Video Streams fragment metadata (a ListFragments response) → one audio.fragment.received per fragment,
// for one track of one contact. Amazon Connect streams both tracks of a contact in the same fragments, so the
// contact (`--call`) and the track (`--track`) are required; the stream is `--stream`, else the input's
// `StreamARN` or `StreamName` (the request's members, when saved beside the response). ListFragments lists
// fragments in no particular order, so events follow producer timestamps (then fragment numbers); a fragment
// listed twice (overlapping pages) counts once. Timestamps may be AWS JSON epoch seconds or ISO 8601 strings (as
// the AWS CLI prints them) and are written in UTC with millisecond digits. `start_ms` places each fragment on the
// call's timeline: milliseconds from the call's start when the ingest knows it (`IngestOptions.callStart`), else
// from the first fragment, as `start_origin` says. The metadata carries no digest: `sha256` and the sealed `audio`
// appear only for fragments whose bytes were given with `--audio [FRAGMENT_NUMBER=]FILE` (the number may be left
// out when the input lists one fragment); `bytes` stays the size KVS reports. The idempotency key is
// `kvs:<stream>:<fragment number>:<track>:<contact>`. NextToken is not followed: ingest every page.
public import Foundation
import LedgerCore

/// Reads a Kinesis Video Streams ListFragments response.
public enum KVSFragmentsAdapter: InputAdapter {
    /// `kvs-fragments`.
    public static let kind = "kvs-fragments"
    /// What it reads.
    public static let summary =
        "Kinesis Video Streams ListFragments response for one contact and track (--call, --track; --stream, --audio)"
    /// `--track`, `--stream` and `--audio`.
    public static let mediaOptions: Set<IngestOption> = [.track, .stream, .audio]
    /// `--call` and `--track`.
    public static let requiredOptions: Set<IngestOption> = [.call, .track]
    /// Yes: fragments are placed on the call's timeline when its start is known.
    public static let readsCallStart = true
    /// The most audio one event may seal (the `audio` field's limit in the schema).
    static let maximumAudioBytes: Int = {
        let field = EventSchemas.audioFragmentReceived.fields.first { $0.name == "audio" }
        guard case .sealed(_, .bytes(let maximum)) = field?.type else { return 0 }
        return maximum
    }()

    /// One fragment of the listing.
    struct Fragment {
        var number: String
        var bytes: Int64
        var duration: Int64
        var producer: Timestamp
        var server: Timestamp?
        /// Where `producer` was read, for errors.
        var producerCursor: JSONCursor
    }

    /// One `audio.fragment.received` per fragment of the listing, in producer-timestamp order.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        let document = try JSONCursor.parse(data, file: options.file)
        guard let call = options.call else {
            throw AdapterError(file: options.file, path: "", reason: "the listing names no contact: pass --call")
        }
        guard let track = options.track else {
            throw AdapterError(
                file: options.file, path: "", reason: "pass --track AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER")
        }
        let stream: String
        if let given = options.stream {
            stream = given
        } else if let named = document["StreamARN"] ?? document["StreamName"] {
            stream = try named.string()
        } else {
            throw document.fail("the listing names no stream: pass --stream ARN")
        }
        var fragments: [Fragment] = []
        var seen: Set<String> = []
        for cursor in try document.required("Fragments").elements() {
            let fragment = try self.fragment(cursor)
            if seen.insert(fragment.number).inserted { fragments.append(fragment) }
        }
        guard let first = fragments.min(by: precedes) else {
            throw try document.required("Fragments").fail("lists no fragments")
        }
        fragments.sort(by: precedes)
        let origin = options.callStart ?? first.producer
        let audio = try audioByFragment(options.audio, fragments: fragments, listing: options.file)
        var events: [[UInt8]] = []
        for fragment in fragments {
            guard fragment.producer.micros >= origin.micros else {
                throw fragment.producerCursor.fail(
                    "is \((origin.micros - fragment.producer.micros) / 1000) ms before the call started "
                        + "(\(origin.formatted), the initiated_at of its call.started in the ledger): "
                        + "list only this contact's fragments")
            }
            var body: [String: Any] = [
                "stream": stream, "fragment_number": fragment.number, "track": track.rawValue,
                "duration_ms": fragment.duration, "bytes": fragment.bytes,
                "producer_timestamp": fragment.producer.formatted,
                "start_ms": (fragment.producer.micros - origin.micros) / 1000,
                "start_origin": options.callStart == nil ? "first_fragment" : "call_start",
            ]
            if let server = fragment.server { body["server_timestamp"] = server.formatted }
            if let bytes = audio[fragment.number] {
                body["sha256"] = SHA256.hash([UInt8](bytes)).hex
                body["audio"] = bytes.base64EncodedString()
            }
            events.append(
                try InterchangeEvent.make(
                    type: "audio.fragment.received", call: call, tenant: options.tenant, source: "connect-kvs/1",
                    idempotency: "kvs:\(stream):\(fragment.number):\(track.rawValue):\(call)",
                    occurred: (fragment.server ?? fragment.producer).formatted, body: body, file: options.file))
        }
        return AdapterOutput(events: events)
    }

    /// Whether `a` comes before `b`: by producer timestamp, then by fragment number (which grows with ingestion).
    static func precedes(_ a: Fragment, _ b: Fragment) -> Bool {
        (a.producer.micros, a.number.count, a.number) < (b.producer.micros, b.number.count, b.number)
    }

    /// One element of `Fragments`.
    static func fragment(_ cursor: JSONCursor) throws(AdapterError) -> Fragment {
        let numberCursor = try cursor.required("FragmentNumber")
        let number = try numberCursor.string()
        guard (1...128).contains(number.utf8.count), number.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw numberCursor.fail("must be 1 to 128 decimal digits")
        }
        let producer = try cursor.required("ProducerTimestamp")
        return Fragment(
            number: number, bytes: try cursor.required("FragmentSizeInBytes").integer(upTo: 1 << 40),
            duration: try cursor.required("FragmentLengthInMilliseconds").integer(upTo: 1 << 40),
            producer: try time(producer),
            server: try cursor["ServerTimestamp"].map { value throws(AdapterError) in try time(value) },
            producerCursor: producer)
    }

    /// A time as the AWS JSON protocol writes it (seconds since 1970, a number) or as the AWS CLI prints it
    /// (an ISO 8601 string), in UTC with three fraction digits (six when it is not a whole millisecond).
    static func time(_ cursor: JSONCursor) throws(AdapterError) -> Timestamp {
        let micros: Int64
        if cursor.value is String {
            micros = try cursor.utcTimestamp().micros
        } else {
            guard let seconds = try? cursor.number(), seconds.isFinite, seconds >= 0, seconds < 1e11 else {
                throw cursor.fail("must be seconds since 1970 (a number) or an ISO 8601 date-time (a string)")
            }
            micros = Int64((seconds * 1_000_000).rounded())
        }
        return Timestamp(micros: micros, fractionDigits: micros % 1000 == 0 ? 3 : 6)
    }

    /// The `--audio` bytes by fragment number: each must name a listed fragment, at most once.
    static func audioByFragment(
        _ inputs: [AudioInput], fragments: [Fragment], listing: String
    ) throws(AdapterError) -> [String: Data] {
        var audio: [String: Data] = [:]
        for input in inputs {
            guard let number = input.fragment ?? (fragments.count == 1 ? fragments[0].number : nil) else {
                throw AdapterError(
                    file: input.file, path: "",
                    reason: "\(listing) lists \(fragments.count) fragments: say which with --audio FRAGMENT_NUMBER=FILE"
                )
            }
            guard fragments.contains(where: { $0.number == number }) else {
                throw AdapterError(file: input.file, path: "", reason: "fragment \(number) is not in \(listing)")
            }
            guard input.data.count <= maximumAudioBytes else {
                throw AdapterError(
                    file: input.file, path: "",
                    reason: "holds \(input.data.count) bytes; the audio of one fragment may hold at most "
                        + "\(maximumAudioBytes)")
            }
            guard audio[number] == nil else {
                throw AdapterError(file: input.file, path: "", reason: "fragment \(number) was given audio twice")
            }
            audio[number] = input.data
        }
        return audio
    }
}
