// Locates and loads files under the repository's Fixtures/ directory.
import Foundation

enum FixtureFiles {
    /// The repository's `Fixtures/` directory, found from this source file's path.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(relativePath))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// Every `.json` file below `relativePath`, sorted.
    static func jsonFiles(under relativePath: String) -> [String] {
        let base = url(relativePath)
        let enumerator = FileManager.default.enumerator(atPath: base.path)!
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") }.sorted()
            .map { relativePath + "/" + $0 }
    }
}
