// The CRM stand-in (tools/crm-standin/crm_standin.py) run as a subprocess on a loopback port for one test, with
// helpers to inject faults, seed records and read back what it stored and counted.
import Foundation
public import LedgerConnectors

/// Why a stand-in could not be started or answered unexpectedly.
public struct StandInError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
}

/// One stand-in server with its own SQLite file; stopped and removed when released.
public final class StandIn {
    /// The bearer token the stand-in accepts.
    public static let token = "stand-in-token"
    /// The stand-in's script.
    public static let script = Repository.root.appendingPathComponent("tools/crm-standin/crm_standin.py").path

    /// `http://127.0.0.1:PORT`.
    public let baseURL: String
    private let process = Process()
    private let input = Pipe()
    private let directory: URL
    private let control: HTTPClient

    /// Starts a stand-in with an empty SQLite file.
    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("crm-standin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.script, "--db", directory.appendingPathComponent("crm.sqlite").path, "--port", "0",
            "--token", Self.token, "--exit-with-stdin",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw StandInError(description: "the stand-in exited before listening") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("listening on ") else {
            throw StandInError(description: "unexpected first line: \(text)")
        }
        baseURL = "http://" + text.dropFirst("listening on ".count)
        control = try HTTPClient()
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A configuration pointing at this stand-in.
    public func configuration(
        token: String = StandIn.token, timeout: Duration = .seconds(5)
    ) throws -> SalesforceClient.Configuration {
        try SalesforceClient.Configuration(
            instanceURL: baseURL + "/", apiVersion: "62.0", token: token, connectTimeout: .seconds(2),
            requestTimeout: timeout)
    }

    /// Sets fault switches through `POST /__faults`.
    public func faults(_ switches: [String: Any]) throws {
        try call(.post, "/__faults", switches)
    }

    /// Inserts `copies` records with the same external id through `POST /__seed`.
    public func seed(object: String, field: String, value: String, copies: Int) throws {
        try call(.post, "/__seed", ["object": object, "externalIdField": field, "externalId": value, "copies": copies])
    }

    /// `GET /__stats`.
    public func stats() throws -> [String: Any] {
        try call(.get, "/__stats") as! [String: Any]
    }

    /// Upsert requests received (faulted ones included) and upserts applied for one record key.
    public func counts(_ key: String) throws -> (requests: Int, writes: Int) {
        let stats = try stats()
        return ((stats["requests"] as! [String: Int])[key] ?? 0, (stats["writes"] as! [String: Int])[key] ?? 0)
    }

    /// `GET /__records?object=`.
    public func records(object: String) throws -> [[String: Any]] {
        try call(.get, "/__records?object=\(object)") as! [[String: Any]]
    }

    /// A record read through the API's `GET .../sobjects/Object/Field/value`.
    public func apiRecord(path: String) throws -> (status: Int, body: Any) {
        let response = try control.send(
            HTTPRequest(
                method: .get, url: baseURL + "/services/data/v62.0/sobjects/" + path,
                headers: [HTTPHeader("Authorization", "Bearer \(Self.token)")]))
        return (response.status, try JSONSerialization.jsonObject(with: Data(response.body)))
    }

    @discardableResult
    private func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) throws -> Any {
        let bytes = try body.map { [UInt8](try JSONSerialization.data(withJSONObject: $0)) } ?? []
        let response = try control.send(HTTPRequest(method: method, url: baseURL + path, body: bytes))
        guard response.status == 200 else {
            throw StandInError(description: "\(method) \(path): \(response.status) \(response.bodyText)")
        }
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }
}
