// Amazon Connect contact records (contact trace records, CTRs) → call.started and call.ended, following the
// admin guide's contact record data model. The input is one record, a JSON array of records, or a stream of
// records (JSON lines, or objects back to back as Kinesis Data Firehose writes them). Connect delivers a record
// at least once, and again whenever the contact changes: within a file the copy with the newest
// LastUpdateTimestamp wins for each ContactId (the first of equal ones; a record that cannot be read is rejected
// alone, with its line); across files the idempotency keys `ctr:<ContactId>:<LastUpdateTimestamp>:started|ended` make an identical
// redelivery a duplicate and an update a new fact. Both events carry `updated_at` (the LastUpdateTimestamp), so a
// reader folds a contact's call.started and call.ended newest-wins by it, whatever order the files were ingested
// in. The call id is the ContactId, or `--call` for a file that describes one contact. Times are written in UTC;
// durations and recording times are also given in milliseconds from InitiationTimestamp; the agent's and queue's
// ids are the last path component of their ARNs; endpoint types the schema does not know become OTHER.
public import Foundation
import LedgerCore

/// Reads Amazon Connect contact records.
public enum ConnectCTRAdapter: InputAdapter {
    /// `connect-ctr`.
    public static let kind = "connect-ctr"
    /// What it reads.
    public static let summary =
        "Amazon Connect contact records: one object, a JSON array, or JSON lines from Kinesis (deduplicated)"

    /// The copy of a contact's record that wins, and when it was last updated.
    struct Record {
        var cursor: JSONCursor
        var contact: String
        var updated: Timestamp
    }

    /// The events of the newest copy of each contact's record, in the order the contacts first appear. Records
    /// are independent: one that cannot be read is rejected (with its line) and the others are kept. A copy that
    /// is rejected after its ContactId and LastUpdateTimestamp were read still counts when choosing the newest, so
    /// a contact whose newest copy is rejected gets no events rather than an older copy's.
    public static func read(_ data: Data, options: IngestOptions) throws(AdapterError) -> AdapterOutput {
        let cursors = try JSONCursor.records(data, file: options.file)
        guard !cursors.isEmpty else {
            throw AdapterError(file: options.file, path: "", reason: "holds no contact records")
        }
        var output = AdapterOutput()
        var records: [Record] = []
        var newest: [String: Int] = [:]
        var contacts: [String] = []
        for result in cursors {
            let record: Record
            do throws(AdapterError) {
                let cursor = try result.get()
                record = Record(
                    cursor: cursor, contact: try cursor.required("ContactId").string(),
                    updated: try cursor.required("LastUpdateTimestamp").utcTimestamp())
            } catch {
                output.rejected.append(error)
                continue
            }
            if let known = newest[record.contact] {
                if record.updated.micros > records[known].updated.micros { newest[record.contact] = records.count }
            } else {
                contacts.append(record.contact)
                newest[record.contact] = records.count
            }
            records.append(record)
        }
        if options.call != nil, contacts.count > 1 {
            throw AdapterError(
                file: options.file, path: "",
                reason: "describes \(contacts.count) contacts (\(contacts.prefix(3).joined(separator: ", "))"
                    + "\(contacts.count > 3 ? ", ..." : "")): --call can name the call of one contact only; "
                    + "leave it out to use each ContactId")
        }
        var eventsByContact: [String: [[UInt8]]] = [:]
        for (index, record) in records.enumerated() {
            do throws(AdapterError) {
                let events = try self.events(
                    of: record, call: options.call ?? record.contact, tenant: options.tenant, file: options.file)
                if newest[record.contact] == index { eventsByContact[record.contact] = events }
            } catch {
                output.rejected.append(error)
            }
        }
        output.events = contacts.flatMap { eventsByContact[$0] ?? [] }
        return output
    }

    /// `call.started` and, once the contact was disconnected, `call.ended` of one record.
    static func events(
        of record: Record, call: String, tenant: String, file: String
    ) throws(AdapterError) -> [[UInt8]] {
        let ctr = record.cursor
        let key = "ctr:\(InterchangeEvent.scope(record.contact, call: call)):\(record.updated.formatted)"
        let updated = record.updated.formatted
        let initiated = try ctr["InitiationTimestamp"]?.utcTimestamp()
        var started: [String: Any] = [
            "channel": try member(ctr.required("Channel"), at: ["channel"]), "updated_at": updated,
        ]
        if let method = ctr["InitiationMethod"] {
            started["initiation_method"] = try member(method, at: ["initiation_method"])
        }
        if let initiated { started["initiated_at"] = initiated.formatted }
        if let connected = try ctr["ConnectedToSystemTimestamp"]?.utcTimestamp() {
            started["connected_to_system_at"] = connected.formatted
        }
        let agent = ctr["Agent"]
        if let connected = try agent?["ConnectedToAgentTimestamp"]?.utcTimestamp() {
            started["connected_to_agent_at"] = connected.formatted
        }
        if let queue = try reference(ctr["Queue"], nameMember: "Name") { started["queue"] = queue }
        if let agent = try reference(agent, nameMember: "Username") { started["agent"] = agent }
        for (member, field) in [("CustomerEndpoint", "customer_endpoint"), ("SystemEndpoint", "system_endpoint")] {
            if let endpoint = try endpoint(ctr[member], field: field) { started[field] = endpoint }
        }
        for (member, field) in [
            ("InstanceARN", "instance"), ("PreviousContactId", "previous_contact"),
            ("InitialContactId", "initial_contact"), ("NextContactId", "next_contact"),
        ] {
            if let value = try ctr[member]?.string() { started[field] = value }
        }
        var events = [
            try InterchangeEvent.make(
                type: "call.started", call: call, tenant: tenant, source: "connect-ctr/1",
                idempotency: "\(key):started", occurred: initiated?.formatted, body: started, file: file)
        ]
        guard let disconnect = ctr["DisconnectTimestamp"] else { return events }
        let disconnected = try disconnect.utcTimestamp()
        var ended: [String: Any] = ["disconnected_at": disconnected.formatted, "updated_at": updated]
        if let reason = try ctr["DisconnectReason"]?.string() { ended["disconnect_reason"] = reason }
        if let initiated {
            ended["duration_ms"] = try milliseconds(disconnect, at: disconnected, since: initiated)
        }
        if let agent {
            if let interaction = try agent["AgentInteractionDuration"]?.milliseconds() {
                ended["agent_interaction_ms"] = interaction
            }
            if let hold = try agent["CustomerHoldDuration"]?.milliseconds() { ended["hold_ms"] = hold }
            if let holds = try agent["NumberOfHolds"]?.integer(upTo: 100_000) { ended["hold_count"] = holds }
        }
        let recordings = try ctr["Recordings"]?.elements() ?? []
        // The first recording appears in both Recording (RecordingInfo) and Recordings (RecordingsInfo).
        let single = ctr["Recording"]
        if let recording = single ?? recordings.first {
            var value: [String: Any] = [:]
            let typeMember = single != nil ? "Type" : "MediaStreamType"
            for (member, field) in [("Location", "location"), ("Status", "status"), (typeMember, "type")] {
                if let text = try recording[member]?.string() { value[field] = text }
            }
            if !value.isEmpty { ended["recording"] = value }
        }
        if !recordings.isEmpty {
            ended["recordings"] = try recordings.map { cursor throws(AdapterError) in
                try self.recording(cursor, initiated: initiated)
            }
        }
        events.append(
            try InterchangeEvent.make(
                type: "call.ended", call: call, tenant: tenant, source: "connect-ctr/1",
                idempotency: "\(key):ended", occurred: disconnected.formatted, body: ended, file: file))
        return events
    }

    /// One element of `Recordings` (the data model's RecordingsInfo), with its times also as milliseconds from
    /// the contact's initiation.
    static func recording(_ cursor: JSONCursor, initiated: Timestamp?) throws(AdapterError) -> [String: Any] {
        var value: [String: Any] = [:]
        for (member, field) in [
            ("Location", "location"), ("Status", "status"), ("MediaStreamType", "type"), ("StorageType", "storage"),
            ("ParticipantType", "participant"), ("FragmentStartNumber", "fragment_start"),
            ("FragmentStopNumber", "fragment_stop"),
        ] {
            if let text = try cursor[member]?.string() { value[field] = text }
        }
        for (member, field, offset) in [
            ("StartTimestamp", "started_at", "start_ms"), ("StopTimestamp", "stopped_at", "end_ms"),
        ] {
            guard let time = cursor[member] else { continue }
            let instant = try time.utcTimestamp()
            value[field] = instant.formatted
            if let initiated { value[offset] = try milliseconds(time, at: instant, since: initiated) }
        }
        return value
    }

    /// The milliseconds from `start` (the contact's InitiationTimestamp) to `time`, the value at `cursor`.
    static func milliseconds(
        _ cursor: JSONCursor, at time: Timestamp, since start: Timestamp
    ) throws(AdapterError) -> Int64 {
        guard time.micros >= start.micros else {
            throw cursor.fail("is before InitiationTimestamp (\(start.formatted))")
        }
        return (time.micros - start.micros) / 1000
    }

    /// A queue or an agent as `{id, name, arn}`; the id is the last path component of the ARN
    /// (`.../queue/<id>`, `.../agent/<id>`).
    static func reference(_ cursor: JSONCursor?, nameMember: String) throws(AdapterError) -> [String: Any]? {
        guard let cursor else { return nil }
        var reference: [String: Any] = [:]
        if let arn = try cursor["ARN"]?.string() {
            reference["arn"] = arn
            if arn.contains("/"), let id = arn.split(separator: "/").last { reference["id"] = String(id) }
        }
        if let name = try cursor[nameMember]?.string() { reference["name"] = name }
        return reference.isEmpty ? nil : reference
    }

    /// An endpoint as `{type, address}`; a type the schema of `field` does not list becomes `OTHER`.
    static func endpoint(_ cursor: JSONCursor?, field: String) throws(AdapterError) -> [String: Any]? {
        guard let cursor else { return nil }
        var endpoint: [String: Any] = [:]
        if let type = try cursor["Type"]?.string() {
            endpoint["type"] = allowedValues(at: [field, "type"]).contains(type) ? type : "OTHER"
        }
        if let address = try cursor["Address"]?.string() { endpoint["address"] = address }
        return endpoint.isEmpty ? nil : endpoint
    }

    /// The value of `cursor` in upper case (older records write `Voice`), which must be one of the values the
    /// `call.started` schema allows at `path`.
    static func member(_ cursor: JSONCursor, at path: [String]) throws(AdapterError) -> String {
        let value = try cursor.string().uppercased()
        let allowed = allowedValues(at: path)
        guard allowed.contains(value) else { throw cursor.fail("must be one of \(allowed.joined(separator: ", "))") }
        return value
    }

    /// The values of the enumeration at `path` (member names) of the `call.started` body schema.
    static func allowedValues(at path: [String]) -> [String] {
        var schema = EventSchemas.callStarted
        for (index, name) in path.enumerated() {
            switch schema.fields.first(where: { $0.name == name })?.type {
            case .object(let inner): schema = inner
            case .enumeration(let values) where index == path.count - 1: return values
            default: return []
            }
        }
        return []
    }
}
