// call-ledger cluster root (key, sign, log, consistency), cluster prove and cluster check-proof: the root log that
// commits to every shard's checkpoints, and an event's proof through its shard and the root (FORMAT.md §13).
import ArgumentParser
import Foundation
import LedgerCluster
import LedgerCore
import NATSClient

struct ClusterRootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "root",
        abstract: "The root log: one signed root committing to every shard checkpoint.",
        discussion: """
            Shard writers record every checkpoint their ledger signs in the root log (the JetStream stream \
            CALL_LEDGER_<name>_root, one leaf per message). `root key` makes the root signing key, `root sign` \
            signs a checkpoint of the whole root log, `root log` lists its leaves, `root consistency` proves a \
            root checkpoint extends an earlier root tree. FORMAT.md §13 (Root log) has the formats.
            """,
        subcommands: [
            ClusterRootKeyCommand.self, ClusterRootSignCommand.self, ClusterRootLogCommand.self,
            ClusterRootConsistencyCommand.self,
        ])
}

struct ClusterRootKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Make the root signing key (named call-ledger/<name>/root); print its verifier key.")

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("Where to write the signing key (must not exist).", valueName: "path"))
    var out: String

    func run() throws {
        let configuration = try cluster.load()
        try clusterErrors { () throws(ClusterError) in
            guard !FileManager.default.fileExists(atPath: out) else {
                throw .rootLog(reason: "\(out) exists; remove it first or choose another path")
            }
            let signer: NoteSignerKey
            do throws(NoteError) {
                signer = try NoteSignerKey.generate(name: configuration.rootOrigin)
            } catch {
                throw .rootLog(reason: "cannot make a key: \(error)")
            }
            guard
                FileManager.default.createFile(
                    atPath: out, contents: Data((signer.description + "\n").utf8),
                    attributes: [.posixPermissions: 0o600])
            else { throw .rootLog(reason: "cannot write \(out)") }
            Output.line(signer.verifierKey.description)
        }
    }
}

struct ClusterRootSignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a checkpoint of the whole root log and publish it; print the signed note.",
        discussion: """
            It first checks that the root log still gives the latest published root checkpoint's root at its size. \
            Any holder of the root key may run it at any time: the same size always gives the same note.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("The root signing key (from `cluster root key`).", valueName: "path"))
    var keyFile: String

    func run() throws {
        let configuration = try cluster.load()
        let connection = try cluster.connect(configuration, name: "call-ledger root sign")
        try clusterErrors { () throws(ClusterError) in
            let text: String
            do {
                text = try String(contentsOfFile: keyFile, encoding: .utf8)
            } catch {
                throw .rootLog(reason: "cannot read \(keyFile): \(error.localizedDescription)")
            }
            let signer: NoteSignerKey
            do throws(NoteError) {
                signer = try NoteSignerKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
            } catch {
                throw .rootLog(reason: "\(keyFile) is not a signing key: \(error)")
            }
            let signed = try RootLog.sign(configuration: configuration, connection: connection, signer: signer)
            Output.write(Array(signed.note.utf8))
        }
    }
}

struct ClusterRootLogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the root log's leaves, one JSON object per line.",
        discussion: #"Each line: {"index":N,"leaf_hash":"…","note_sha256":"…","shard":N,"tree_size":N}."#)

    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        let configuration = try cluster.load()
        let connection = try cluster.connect(configuration, name: "call-ledger root log")
        try clusterErrors { () throws(ClusterError) in
            for entry in try RootLog.entries(configuration: configuration, connection: connection) {
                try? Output.json(
                    Line(
                        index: entry.index, leafHash: entry.leaf.leafHash.hex, noteSha256: entry.leaf.noteDigest.hex,
                        shard: entry.leaf.shard, treeSize: entry.leaf.treeSize), snakeCase: true)
            }
        }
    }

    private struct Line: Encodable {
        var index: UInt64
        var leafHash: String
        var noteSha256: String
        var shard: Int
        var treeSize: UInt64
    }
}

struct ClusterRootConsistencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency",
        abstract: "Prove that the latest root checkpoint extends the root tree of --from leaves (JSON).",
        discussion: "The JSON is a consistency proof of FORMAT.md §11: `tools/verify proof FILE` checks it.")

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "The earlier root tree size.")
    var from: UInt64

    func run() throws {
        let configuration = try cluster.load()
        let connection = try cluster.connect(configuration, name: "call-ledger root consistency")
        let proof = try clusterErrors { () throws(ClusterError) in
            try ClusterProver.consistency(configuration: configuration, connection: connection, from: from)
        }
        try Output.json(proof, pretty: true)
    }
}

struct ClusterProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Prove an event through its shard and the root log (JSON).",
        discussion: """
            Prints the event's inclusion proof in its shard (for the size of the first shard checkpoint in the \
            root log that covers it), that shard checkpoint, its inclusion proof in the root log and the latest \
            signed root checkpoint. `call-ledger cluster check-proof FILE` and `tools/verify cluster-proof FILE` \
            check it.
            """)

    @OptionGroup var cluster: ClusterOptions

    @Option(help: ArgumentHelp("The event's shard.", valueName: "n"))
    var shard: Int

    @Option(help: "The event's seq in its shard.")
    var seq: UInt64

    @Option(help: ArgumentHelp("The shard's ledger directory.", valueName: "dir"))
    var ledger: String

    @Option(help: ArgumentHelp("The key file (default: DIR.key).", valueName: "path"))
    var keyFile: String?

    func run() throws {
        let configuration = try cluster.load()
        let connection = try cluster.connect(configuration, name: "call-ledger cluster prove")
        let proof = try clusterErrors { () throws(ClusterError) in
            try ClusterProver.prove(
                configuration: configuration, connection: connection, shard: shard, seq: seq, ledgerDirectory: ledger,
                keyFilePath: keyFile)
        }
        try Output.json(proof, pretty: true)
    }
}

struct ClusterCheckProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-proof",
        abstract: "Check a `cluster prove` proof offline; exit 1 naming the part that fails.")

    @Argument(help: "The proof (JSON).")
    var file: String

    @Option(help: ArgumentHelp("The root verifier key to trust (a key or a file holding it).", valueName: "key"))
    var rootKey: String?

    @Option(help: ArgumentHelp("A shard verifier key to trust (repeat for each shard).", valueName: "key"))
    var shardKey: [String] = []

    func run() throws {
        let summary = try clusterErrors { () throws(ClusterError) in
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .proof(member: file, reason: "cannot be read")
            }
            let proof: ClusterProof
            do {
                proof = try JSONDecoder().decode(ClusterProof.self, from: data)
            } catch {
                throw .proof(member: file, reason: "is not a cluster proof: \(error)")
            }
            var shardKeys: [NoteVerifierKey] = []
            for key in shardKey { shardKeys.append(try Self.key(key)) }
            return try proof.check(
                rootKey: try rootKey.map { (key) throws(ClusterError) in try Self.key(key) },
                shardKeys: shardKeys)
        }
        Output.line("OK: \(summary)")
    }

    private static func key(_ value: String) throws(ClusterError) -> NoteVerifierKey {
        var text = value
        if !value.contains("+") {
            guard let data = FileManager.default.contents(atPath: value) else {
                throw .proof(member: value, reason: "is neither a verifier key nor a readable file")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        do throws(NoteError) {
            return try NoteVerifierKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw .proof(member: value, reason: "is not a verifier key: \(error)")
        }
    }
}
