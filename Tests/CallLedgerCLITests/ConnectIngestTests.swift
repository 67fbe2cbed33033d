// call-ledger ingest with the Amazon Connect adapters (connect-ctr, kvs-fragments) on the samples in
// Fixtures/connect: facts checked against the source files themselves, deduplication of redelivered and updated
// contact records, idempotent re-ingest, path-precise rejection of damaged input, and sealed fragment audio.
import Foundation
import LedgerTestSupport
import Testing

/// The contact records of a fixture: one object, an array, or JSON lines.
private func contactRecords(_ path: String) throws -> [[String: Any]] {
    let data = try Data(contentsOf: Repository.fixture(path))
    if path.hasSuffix(".jsonl") {
        return try data.split(separator: UInt8(ascii: "\n")).map {
            try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any]
        }
    }
    let document = try JSONSerialization.jsonObject(with: data)
    return document as? [[String: Any]] ?? [document as! [String: Any]]
}

/// Milliseconds since 1970 of a contact record time (`2025-03-14T09:12:03Z`).
private func epochMilliseconds(ofRecordTime text: Any?) throws -> Int64 {
    let string = try #require(text as? String)
    let date = try #require(ISO8601DateFormatter().date(from: string))
    return Int64((date.timeIntervalSince1970 * 1000).rounded())
}

/// Milliseconds since 1970 of a ListFragments time: epoch seconds (the API) or `2019-08-14T11:25:13.617000+00:00`
/// (the AWS CLI).
private func epochMilliseconds(ofFragmentTime value: Any?) throws -> Int64 {
    if let seconds = value as? Double { return Int64((seconds * 1000).rounded()) }
    let text = try #require(value as? String)
    try #require(text.hasSuffix("+00:00") && text.count > 20)
    let whole = try epochMilliseconds(ofRecordTime: String(text.prefix(19)) + "Z")
    let fraction = text.dropFirst(20).prefix { $0.isNumber }
    return whole + Int64(String((fraction + "000").prefix(3)))!
}

/// Writes `data` to a scratch file of `ledger` and returns its path.
private func scratchFile(_ ledger: CLILedger, _ name: String, _ data: Data) throws -> String {
    let path = ledger.scratch.file(name)
    try data.write(to: URL(fileURLWithPath: path))
    return path
}

/// The statuses of an ingest's acknowledgement lines.
private func statuses(_ result: ProcessResult) throws -> [String] {
    try result.stdout.split(separator: "\n").map { try jsonObject($0)["status"] as! String }
}

/// The Connect adapters, in one suite so that `swift test --filter ConnectIngest` runs them all.
@Suite enum ConnectIngestTests {
    @Suite struct ContactRecords {
        @Test(arguments: ["connect/ctr-inbound-voice.json", "connect/ctr-transfer.json", "connect/ctr-stream.jsonl"])
        func newestRecordOfEachContactBecomesCallStartedAndEnded(file: String) throws {
            var newest: [String: [String: Any]] = [:]
            for record in try contactRecords(file) {
                let contact = record["ContactId"] as! String
                if let known = newest[contact],
                    try epochMilliseconds(ofRecordTime: known["LastUpdateTimestamp"])
                        >= epochMilliseconds(ofRecordTime: record["LastUpdateTimestamp"])
                {
                    continue
                }
                newest[contact] = record
            }
            let ledger = try CLILedger()
            let result = try ledger.callLedger("ingest", "--from", "connect-ctr", Repository.fixture(file).path)
            #expect(result.status == 0, "\(result.stderr)")
            let events = try catted(ledger)
            #expect(events.count == 2 * newest.count)
            for (contact, record) in newest {
                let mine = events.filter { $0["call"] as? String == contact }
                let started = try #require(
                    mine.first { $0["type"] as? String == "call.started" }?["body"] as? [String: Any])
                let ended = try #require(
                    mine.first { $0["type"] as? String == "call.ended" }?["body"] as? [String: Any])
                #expect(mine.count == 2)
                let agent = record["Agent"] as? [String: Any]
                #expect((started["agent"] as? [String: Any])?["name"] as? String == agent?["Username"] as? String)
                #expect((started["agent"] as? [String: Any])?["arn"] as? String == agent?["ARN"] as? String)
                let queue = record["Queue"] as! [String: Any]
                #expect((started["queue"] as! [String: Any])["name"] as? String == queue["Name"] as? String)
                #expect((started["queue"] as! [String: Any])["arn"] as? String == queue["ARN"] as? String)
                #expect(started["channel"] as? String == record["Channel"] as? String)
                #expect(started["initiation_method"] as? String == record["InitiationMethod"] as? String)
                #expect(started["initiated_at"] as? String == record["InitiationTimestamp"] as? String)
                #expect(started["connected_to_system_at"] as? String == record["ConnectedToSystemTimestamp"] as? String)
                #expect(started["connected_to_agent_at"] as? String == agent?["ConnectedToAgentTimestamp"] as? String)
                #expect(started["previous_contact"] as? String == record["PreviousContactId"] as? String)
                #expect(started["next_contact"] as? String == record["NextContactId"] as? String)
                #expect(started["updated_at"] as? String == record["LastUpdateTimestamp"] as? String)
                let duration =
                    try epochMilliseconds(ofRecordTime: record["DisconnectTimestamp"])
                    - epochMilliseconds(ofRecordTime: record["InitiationTimestamp"])
                #expect(ended["duration_ms"] as? Int64 == duration)
                #expect(ended["disconnected_at"] as? String == record["DisconnectTimestamp"] as? String)
                #expect(ended["disconnect_reason"] as? String == record["DisconnectReason"] as? String)
                #expect(ended["updated_at"] as? String == record["LastUpdateTimestamp"] as? String)
                let recording = record["Recording"] as? [String: Any]
                let storedRecording = ended["recording"] as? [String: Any]
                #expect(storedRecording?["location"] as? String == recording?["Location"] as? String)
                #expect(storedRecording?["status"] as? String == recording?["Status"] as? String)
                #expect(storedRecording?["type"] as? String == recording?["Type"] as? String)
                let recordings = record["Recordings"] as? [[String: Any]] ?? []
                let stored = ended["recordings"] as? [[String: Any]] ?? []
                #expect(stored.count == recordings.count)
                for (entry, source) in zip(stored, recordings) {
                    #expect(entry["storage"] as? String == source["StorageType"] as? String)
                    #expect(entry["type"] as? String == source["MediaStreamType"] as? String)
                    let start =
                        try epochMilliseconds(ofRecordTime: source["StartTimestamp"])
                        - epochMilliseconds(ofRecordTime: record["InitiationTimestamp"])
                    #expect(entry["start_ms"] as? Int64 == start)
                }
            }
        }

        /// ctr-stream.jsonl delivers contact 3b1f9c7e… twice identically and then updated, and contact 9e4a2c6b…
        /// newer copy first: the newest copy wins in a file; across files an update is a new fact and a
        /// redelivery a duplicate.
        @Test func redeliveredRecordsAppendNothingAndUpdatesAppendNewFacts() throws {
            let path = Repository.fixture("connect/ctr-stream.jsonl").path
            let records = try contactRecords("connect/ctr-stream.jsonl")
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            let ledger = try CLILedger()
            let firstThree = try scratchFile(
                ledger, "first-three.jsonl", Data(lines.prefix(3).joined(separator: "\n").utf8))
            let early = try ledger.callLedger("ingest", "--from", "connect-ctr", firstThree)
            #expect(early.status == 0, "\(early.stderr)")
            #expect(try statuses(early) == Array(repeating: "appended", count: 4))
            let all = try ledger.callLedger("ingest", "--from", "connect-ctr", path)
            #expect(all.status == 0, "\(all.stderr)")
            // 3b1f9c7e… updated (2 new facts), 9e4a2c6b… the same newest copy (2 duplicates), 5f8b0d2e… new (2).
            #expect(
                try statuses(all).sorted() == [
                    "appended", "appended", "appended", "appended", "duplicate", "duplicate",
                ])
            let before = try ledger.verified()
            let again = try ledger.callLedger("ingest", "--from", "connect-ctr", path)
            let againStatuses = try statuses(again)
            #expect(again.status == 0 && againStatuses.allSatisfy { $0 == "duplicate" })
            #expect(try ledger.verified() == before)

            let updated = records.filter { $0["ContactId"] as? String == "3b1f9c7e-8d2a-4e6b-b5c4-7a9e0d1f2c38" }
            let latest = updated.max {
                ($0["LastUpdateTimestamp"] as! String) < ($1["LastUpdateTimestamp"] as! String)
            }!
            let ended = try catted(ledger, "--call", "3b1f9c7e-8d2a-4e6b-b5c4-7a9e0d1f2c38")
                .filter { $0["type"] as? String == "call.ended" }.map { $0["body"] as! [String: Any] }
            #expect(ended.count == 2)
            let newest = ended.max { ($0["updated_at"] as! String) < ($1["updated_at"] as! String) }!
            #expect(newest["updated_at"] as? String == latest["LastUpdateTimestamp"] as? String)
            let recording = (latest["Recording"] as! [String: Any])["Status"] as? String
            #expect((newest["recording"] as! [String: Any])["status"] as? String == recording)

            let outbound = try catted(ledger, "--call", "9e4a2c6b-1f3d-4b8a-9c7e-5d2f0a8b6e91")
            let newestOutbound = records.filter { $0["ContactId"] as? String == "9e4a2c6b-1f3d-4b8a-9c7e-5d2f0a8b6e91" }
                .max { ($0["LastUpdateTimestamp"] as! String) < ($1["LastUpdateTimestamp"] as! String) }!
            #expect(outbound.count == 2)
            #expect(
                outbound.allSatisfy {
                    ($0["body"] as! [String: Any])["updated_at"] as? String
                        == newestOutbound["LastUpdateTimestamp"] as? String
                })
        }

        /// Kinesis Data Firehose writes records back to back, without newlines: read like JSON lines, and a bad
        /// record, even a redelivered copy that deduplication would drop, is named by its line and column.
        @Test func recordsBackToBackReadLikeJSONLines() throws {
            let path = Repository.fixture("connect/ctr-stream.jsonl").path
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            let lined = try CLILedger()
            #expect(try lined.callLedger("ingest", "--from", "connect-ctr", path).status == 0)
            let ledger = try CLILedger()
            let firehose = try scratchFile(ledger, "firehose", Data(lines.joined().utf8))
            let result = try ledger.callLedger("ingest", "--from", "connect-ctr", firehose)
            #expect(result.status == 0, "\(result.stderr)")
            let bodies = { (ledger: CLILedger) in try catted(ledger).map { $0["body"] as! NSDictionary } }
            #expect(try bodies(ledger) == bodies(lined))

            let damaged = lines.map(String.init).enumerated().map { index, line in
                index == 2
                    ? line.replacingOccurrences(of: "\"Channel\":\"VOICE\"", with: "\"Channel\":\"PIGEON\"") : line
            }
            let bad = try scratchFile(ledger, "bad-firehose", Data(damaged.joined().utf8))
            let rejected = try ledger.callLedger("ingest", "--from", "connect-ctr", bad)
            #expect(rejected.status == 2)
            let column = lines[0].utf8.count + lines[1].utf8.count + 1
            #expect(rejected.stderr.contains("\(bad):1:\(column): Channel: must be one of VOICE"), "\(rejected.stderr)")
        }

        @Test func callOverridesTheContactIdOfAFileWithOneContact() throws {
            let ledger = try CLILedger()
            let record = try contactRecords("connect/ctr-inbound-voice.json")[0]
            let one = try ledger.callLedger(
                "ingest", "--from", "connect-ctr", "--call", "case-1234",
                Repository.fixture("connect/ctr-inbound-voice.json").path)
            #expect(one.status == 0, "\(one.stderr)")
            let events = try catted(ledger)
            #expect(events.count == 2 && events.allSatisfy { $0["call"] as? String == "case-1234" })
            #expect(
                events.allSatisfy { ($0["idempotency"] as! String).hasPrefix("ctr:\(record["ContactId"] as! String):") }
            )
            let many = try ledger.callLedger(
                "ingest", "--from", "connect-ctr", "--call", "case-1234",
                Repository.fixture("connect/ctr-stream.jsonl").path)
            #expect(many.status == 2)
            #expect(many.stderr.contains("describes 3 contacts"), "\(many.stderr)")
            #expect(try ledger.verified().events == 2)
        }

        /// A copy cut inside a value, and a record with a wrong type, are rejected with the file, the record and the
        /// JSON path; nothing is appended, so the tree keeps its size and root.
        @Test(arguments: [
            ("connect/ctr-inbound-voice.json", "\"FragmentStartNumber\": ", "", "Recordings[0].FragmentStartNumber"),
            ("connect/ctr-transfer.json", "\"Name\": \"Bil", "", "[1].Queue.Name"),
            (
                "connect/ctr-stream.jsonl", "\"AgentConnectionAttempts\":0,\"Attributes\":{},\"Channel\":\"VO", ":4",
                "Channel"
            ),
        ])
        func truncatedCopyIsRejectedWithItsPathAndNothingIsAppended(
            file: String, cutAfter: String, line: String, path: String
        ) throws {
            let ledger = try CLILedger()
            #expect(try ledger.callLedger("ingest", "--from", "connect-ctr", Repository.fixture(file).path).status == 0)
            let before = try ledger.verified()
            let text = try String(contentsOf: Repository.fixture(file), encoding: .utf8)
            let cut = try #require(text.range(of: cutAfter)).upperBound
            let truncated = try scratchFile(
                ledger, "truncated-" + file.split(separator: "/").last!, Data(text[..<cut].utf8))
            let rejected = try ledger.callLedger("ingest", "--from", "connect-ctr", "--atomic", truncated)
            #expect(rejected.status == 2)
            #expect(rejected.stderr.contains("\(truncated)\(line): \(path): not valid JSON"), "\(rejected.stderr)")
            #expect(rejected.stderr.contains("truncated"))
            #expect(try ledger.verified() == before)
        }

        @Test func wrongTypeRejectsItsRecordAloneOrTheWholeFileWhenAtomic() throws {
            let ledger = try CLILedger()
            var records = try contactRecords("connect/ctr-transfer.json")
            records[1]["LastUpdateTimestamp"] = 1_742_206_566
            let file = try scratchFile(ledger, "bad.json", try JSONSerialization.data(withJSONObject: records))
            let rejected = try ledger.callLedger("ingest", "--from", "connect-ctr", "--atomic", file)
            #expect(rejected.status == 2)
            #expect(
                rejected.stderr.contains("\(file): [1].LastUpdateTimestamp: must be a string"), "\(rejected.stderr)")
            #expect(try ledger.verified().events == 0)
            let partial = try ledger.callLedger("ingest", "--from", "connect-ctr", file)
            #expect(partial.status == 2)
            #expect(partial.stderr.contains("[1].LastUpdateTimestamp: must be a string"), "\(partial.stderr)")
            let contacts = Set(
                records.enumerated().filter { $0.offset != 1 }.map { $0.element["ContactId"] as! String })
            let appended = try catted(ledger)
            #expect(Set(appended.map { $0["call"] as! String }) == contacts)
        }
    }

    @Suite struct KVSFragments {
        static let files = ["connect/kvs-list-fragments.json", "connect/kvs-list-fragments-cli.json"]

        /// The published contact-flow event's customer audio stream, which the fragment samples belong to.
        static func customerAudio() throws -> [String: Any] {
            let event = try fixtureJSON("connect/contact-flow-lambda-event-with-mediastreams.json")
            let contact = (event["Details"] as! [String: Any])["ContactData"] as! [String: Any]
            return ((contact["MediaStreams"] as! [String: Any])["Customer"] as! [String: Any])["Audio"]
                as! [String: Any]
        }

        static func ingest(
            _ ledger: CLILedger, _ file: String, call: String = "5ca32fbd-8f92-46af-92a5-6b0f970f0efe",
            _ extra: String...
        ) throws -> ProcessResult {
            try LedgerTestSupport.callLedger(
                arguments: [
                    "ingest", "--ledger", ledger.directory, "--from", "kvs-fragments", "--call", call, "--track",
                    "AUDIO_FROM_CUSTOMER", "--stream", try customerAudio()["StreamARN"] as! String,
                ] + extra + [file])
        }

        @Test(arguments: files)
        func listingBecomesOneReceiptPerFragmentInProducerOrder(file: String) throws {
            let fragments = try fixtureJSON(file)["Fragments"] as! [[String: Any]]
            let ordered = try fragments.map { ($0, try epochMilliseconds(ofFragmentTime: $0["ProducerTimestamp"])) }
                .sorted { $0.1 < $1.1 }
            let audio = try Self.customerAudio()
            let ledger = try CLILedger()
            let result = try Self.ingest(ledger, Repository.fixture(file).path)
            #expect(result.status == 0, "\(result.stderr)")
            let events = try catted(ledger)
            #expect(events.count == fragments.count)
            let bodies = events.map { $0["body"] as! [String: Any] }
            #expect(
                bodies.map { $0["fragment_number"] as! String } == ordered.map { $0.0["FragmentNumber"] as! String })
            // The earliest fragment is where the contact-flow event says the customer audio starts.
            #expect(bodies.first?["fragment_number"] as? String == audio["StartFragmentNumber"] as? String)
            #expect(ordered.first?.1 == Int64(audio["StartTimestamp"] as! String))
            let first = ordered[0].1
            for (body, (fragment, producer)) in zip(bodies, ordered) {
                #expect(body["start_ms"] as? Int64 == producer - first)
                #expect(body["start_origin"] as? String == "first_fragment")
                #expect(body["duration_ms"] as? Int64 == fragment["FragmentLengthInMilliseconds"] as? Int64)
                #expect(body["bytes"] as? Int64 == fragment["FragmentSizeInBytes"] as? Int64)
                #expect(body["track"] as? String == "AUDIO_FROM_CUSTOMER")
                #expect(body["sha256"] == nil && body["audio"] == nil)
            }
            let total = ordered.last!.1 + (ordered.last!.0["FragmentLengthInMilliseconds"] as! Int64) - first
            #expect(
                (bodies.last!["start_ms"] as! Int64) + (bodies.last!["duration_ms"] as! Int64) == total)
            let storedDuration = bodies.map { $0["duration_ms"] as! Int64 }.reduce(0, +)
            #expect(storedDuration == fragments.map { $0["FragmentLengthInMilliseconds"] as! Int64 }.reduce(0, +))
            for event in events {
                let body = event["body"] as! [String: Any]
                #expect(event["call"] as? String == "5ca32fbd-8f92-46af-92a5-6b0f970f0efe")
                #expect(
                    event["idempotency"] as? String
                        == "kvs:\(audio["StreamARN"] as! String):\(body["fragment_number"] as! String):AUDIO_FROM_CUSTOMER:5ca32fbd-8f92-46af-92a5-6b0f970f0efe"
                )
            }
        }

        @Test func bothFormsOfTheListingGiveTheSameFacts() throws {
            let ledger = try CLILedger()
            #expect(try Self.ingest(ledger, Repository.fixture(Self.files[0]).path).status == 0)
            let before = try ledger.verified()
            let cli = try Self.ingest(ledger, Repository.fixture(Self.files[1]).path)
            let cliStatuses = try statuses(cli)
            #expect(cli.status == 0 && cliStatuses.allSatisfy { $0 == "duplicate" })
            #expect(try ledger.verified() == before)
            let other = try CLILedger()
            #expect(try Self.ingest(other, Repository.fixture(Self.files[1]).path).status == 0)
            let bodies = { (ledger: CLILedger) in try catted(ledger).map { $0["body"] as! NSDictionary } }
            #expect(try bodies(ledger) == bodies(other))
        }

        /// Once the ledger holds the contact's call.started, fragments are timed from its InitiationTimestamp.
        @Test func fragmentsAreTimedFromTheCallStartTheLedgerKnows() throws {
            let ledger = try CLILedger()
            let call = "5ca32fbd-8f92-46af-92a5-6b0f970f0efe"
            var record = try contactRecords("connect/ctr-inbound-voice.json")[0]
            record["ContactId"] = call
            record["InitiationTimestamp"] = "2019-08-14T11:25:05Z"
            record["DisconnectTimestamp"] = "2019-08-14T11:35:05Z"
            record["Recording"] = NSNull()
            record["Recordings"] = NSNull()
            let ctr = try scratchFile(ledger, "ctr.json", try JSONSerialization.data(withJSONObject: record))
            #expect(try ledger.callLedger("ingest", "--from", "connect-ctr", ctr).status == 0)
            let file = Repository.fixture(Self.files[0]).path
            let result = try Self.ingest(ledger, file)
            #expect(result.status == 0, "\(result.stderr)")
            let start = try epochMilliseconds(ofRecordTime: record["InitiationTimestamp"])
            let fragments = try fixtureJSON(Self.files[0])["Fragments"] as! [[String: Any]]
            let producers = try fragments.map { try epochMilliseconds(ofFragmentTime: $0["ProducerTimestamp"]) }
                .sorted()
            let bodies = try catted(ledger, "--call", call).filter {
                $0["type"] as? String == "audio.fragment.received"
            }
            .map { $0["body"] as! [String: Any] }
            #expect(bodies.map { $0["start_ms"] as! Int64 } == producers.map { $0 - start })
            #expect(bodies.allSatisfy { $0["start_origin"] as? String == "call_start" })

            // A contact that starts after the earliest fragment: that fragment cannot be this contact's.
            let late = try CLILedger()
            record["InitiationTimestamp"] = "2019-08-14T11:25:10Z"
            let lateCTR = try scratchFile(late, "ctr.json", try JSONSerialization.data(withJSONObject: record))
            #expect(try late.callLedger("ingest", "--from", "connect-ctr", lateCTR).status == 0)
            let before = try late.verified()
            let index = try fragments.firstIndex {
                try epochMilliseconds(ofFragmentTime: $0["ProducerTimestamp"]) == producers[0]
            }!
            let early = try epochMilliseconds(ofRecordTime: record["InitiationTimestamp"]) - producers[0]
            let rejected = try Self.ingest(late, file)
            #expect(rejected.status == 2)
            #expect(
                rejected.stderr.contains(
                    "Fragments[\(index)].ProducerTimestamp: is \(early) ms before the call started"),
                "\(rejected.stderr)")
            #expect(try late.verified() == before)
        }

        @Test func truncatedListingIsRejectedWithItsPathAndNothingIsAppended() throws {
            let ledger = try CLILedger()
            let file = Repository.fixture(Self.files[0]).path
            #expect(try Self.ingest(ledger, file).status == 0)
            let before = try ledger.verified()
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let marker = "\"FragmentSizeInBytes\": 63977,\n         \"ProducerTimestamp\": "
            let cut = try #require(text.range(of: marker)).upperBound
            let truncated = try scratchFile(ledger, "truncated.json", Data(text[..<cut].utf8))
            let rejected = try Self.ingest(ledger, truncated)
            #expect(rejected.status == 2)
            #expect(
                rejected.stderr.contains("\(truncated): Fragments[3].ProducerTimestamp: not valid JSON"),
                "\(rejected.stderr)")
            #expect(rejected.stderr.contains("truncated"))
            #expect(try ledger.verified() == before)
        }

        @Test func missingCallOrTrackIsAUsageError() throws {
            let ledger = try CLILedger()
            let file = Repository.fixture(Self.files[0]).path
            let noCall = try ledger.callLedger(
                "ingest", "--from", "kvs-fragments", "--track", "AUDIO_TO_CUSTOMER", file)
            #expect(
                noCall.status == 64 && noCall.stderr.contains("--from kvs-fragments needs --call"), "\(noCall.stderr)")
            let noTrack = try ledger.callLedger("ingest", "--from", "kvs-fragments", "--call", "c", file)
            #expect(noTrack.status == 64 && noTrack.stderr.contains("--from kvs-fragments needs --track"))
            let badTrack = try ledger.callLedger(
                "ingest", "--from", "kvs-fragments", "--call", "c", "--track", "AUDIO", file)
            #expect(
                badTrack.status == 64
                    && badTrack.stderr.contains("--track takes AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER"))
            let foreign = try ledger.callLedger(
                "ingest", "--from", "connect-ctr", "--track", "AUDIO_TO_CUSTOMER",
                Repository.fixture("connect/ctr-inbound-voice.json").path)
            #expect(foreign.status == 64 && foreign.stderr.contains("--track does not apply to --from connect-ctr"))
            #expect(try ledger.verified().events == 0)
        }

        @Test func audioIsDigestedAndSealed() throws {
            let ledger = try CLILedger()
            let fragments = try fixtureJSON(Self.files[0])["Fragments"] as! [[String: Any]]
            let number = fragments[2]["FragmentNumber"] as! String
            let bytes = Data((0..<4_096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
            let audio = try scratchFile(ledger, "fragment.mkv", bytes)
            let sha256sum = try LedgerTestSupport.run("/usr/bin/env", ["sha256sum", audio])
            let digest = String(try #require(sha256sum.stdout.split(separator: " ").first))
            let result = try Self.ingest(
                ledger, Repository.fixture(Self.files[0]).path, "--audio", "\(number)=\(audio)")
            #expect(result.status == 0, "\(result.stderr)")
            let events = try catted(ledger)
            let event = try #require(
                events.first { ($0["body"] as! [String: Any])["fragment_number"] as? String == number })
            let body = event["body"] as! [String: Any]
            #expect(body["sha256"] as? String == digest)
            #expect(Data(base64Encoded: body["audio"] as! String) == bytes)
            #expect((event["sealed"] as! [[String: Any]]).map { $0["class"] as! String } == ["audio"])
            #expect(events.filter { ($0["body"] as! [String: Any])["sha256"] != nil }.count == 1)
            try FileManager.default.moveItem(atPath: ledger.directory + ".key", toPath: ledger.scratch.file("away.key"))
            let locked = try catted(ledger).first {
                ($0["body"] as! [String: Any])["fragment_number"] as? String == number
            }!
            #expect(((locked["body"] as! [String: Any])["audio"] as? [String: Any])?["redacted"] as? String == "audio")

            // One file for a listing of several fragments must say which fragment it is.
            let other = try CLILedger()
            let ambiguous = try Self.ingest(other, Repository.fixture(Self.files[0]).path, "--audio", audio)
            #expect(ambiguous.status == 2 && ambiguous.stderr.contains("--audio FRAGMENT_NUMBER=FILE"))
            // A listing of one fragment takes the file as it is.
            let single = try scratchFile(
                other, "one.json", try JSONSerialization.data(withJSONObject: ["Fragments": [fragments[2]]]))
            let plain = try Self.ingest(other, single, "--audio", audio)
            #expect(plain.status == 0, "\(plain.stderr)")
            #expect((try catted(other).first?["body"] as? [String: Any])?["sha256"] as? String == digest)
        }
    }
}
