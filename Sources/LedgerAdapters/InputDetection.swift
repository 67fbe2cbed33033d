// Recognising which adapter an input was written for, from the members of its first record, so that a file
// given to the wrong `--from` is rejected with a suggestion of the right one.
public import Foundation

extension InputAdapters {
    /// The `--from` kind whose input `data` looks like (judged by the members of its first JSON object: the
    /// document, the first element of an array or the first line of JSON lines), or nil when none fits.
    public static func likelyKind(of data: Data) -> String? {
        guard let first = firstObject(data) else { return nil }
        return likelyKind(ofObject: first)
    }

    /// The kind an object's members point to.
    static func likelyKind(ofObject object: [String: Any]) -> String? {
        let keys = Set(object.keys)
        let streamMembers: Set<String> = [
            "UtteranceEvent", "CategoryEvent", "TranscriptEvent", "CallAnalyticsTranscriptResultStream",
            "TranscriptResultStream",
        ]
        if !keys.isDisjoint(with: streamMembers) { return TranscribeStreamAdapter.kind }
        let firstTurn = (object["Transcript"] as? [Any])?.first as? [String: Any]
        if keys.contains("Participants") && firstTurn?["ParticipantId"] != nil { return ContactLensAdapter.kind }
        if keys.contains("EventType") && keys.contains("ContactId") { return ContactLensAdapter.kind }
        if keys.contains("ContactId") && (keys.contains("LastUpdateTimestamp") || keys.contains("InitiationTimestamp"))
        {
            return ConnectCTRAdapter.kind
        }
        if keys.contains("Fragments") { return KVSFragmentsAdapter.kind }
        if firstTurn?["ParticipantRole"] != nil || keys.contains("Transcript") && keys.contains("JobName") {
            return TranscribeCallAnalyticsAdapter.kind
        }
        if let results = object["results"] as? [String: Any], results["items"] != nil || results["transcripts"] != nil {
            return TranscribeAdapter.kind
        }
        if keys.contains("session_id") && keys.contains("type") { return GladiaLiveAdapter.kind }
        if let event = object["event"] as? String {
            if event.hasPrefix("live.") { return GladiaLiveAdapter.kind }
            if event.hasPrefix("transcription.") { return GladiaAdapter.kind }
        }
        if let result = object["result"] as? [String: Any], result["transcription"] != nil { return GladiaAdapter.kind }
        return nil
    }

    /// The first JSON object of the input: the document, its first element, or its first line.
    private static func firstObject(_ data: Data) -> [String: Any]? {
        if let document = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) {
            return (document as? [String: Any]) ?? ((document as? [Any])?.first as? [String: Any])
        }
        guard let newline = data.firstIndex(of: 0x0A) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data[data.startIndex..<newline])) as? [String: Any]
    }
}
