// Rebuilding several projections in one pass over the log: every fold gets a new generation of its state file,
// the log is read and decompressed once for all of them (`LedgerReader.scan(_:folds:threads:readers:)`), the folds apply
// side by side on their own threads when there is more than one worker, and each generation is published once
// every fold finished. Each fold sees the same records in the same order as alone, so the files do not depend
// on the number of workers.
import Dispatch
import LedgerCore
import LedgerStore

/// A fold being rebuilt in a shared pass: its new state file and its share of the scan.
private protocol RebuildPass: AnyObject {
    var file: ProjectionStateFile { get }
    var projection: String { get }
    var callCount: Int { get }
    var applyNanos: UInt64 { get }
    func scanFold(progress: ((RecordView) -> Void)?) -> SharedScanFold
    func finish(checkpoint: UInt64) throws(LedgerError)
}

/// The rebuild of projection `Fold`.
private final class RebuildPassOf<Fold: ProjectionFold>: RebuildPass {
    let file: ProjectionStateFile
    private var fold: Fold

    init(directory: String) throws(LedgerError) {
        file = try ProjectionStateFile.createForRebuild(
            name: Fold.projection, version: Fold.version, schema: Fold.schema, in: directory)
        fold = Fold(into: file, restoring: false)
    }

    var projection: String { Fold.projection }
    var callCount: Int { fold.callCount }
    var applyNanos: UInt64 { fold.applyNanos }

    func scanFold(progress: ((RecordView) -> Void)?) -> SharedScanFold {
        SharedScanFold(
            wants: { Fold.wants($0) },
            apply: { [self] record throws(LedgerError) in
                try fold.apply(record)
                progress?(record)
            })
    }

    func finish(checkpoint: UInt64) throws(LedgerError) {
        try fold.finish(checkpoint: checkpoint)
    }
}

extension ProjectionEngine {
    /// Drops the state of each of `folds` and folds the whole log into a new generation of each in one shared
    /// pass (see the file's header); the new generations replace the old ones once all are complete.
    func rebuildTogether(
        _ folds: [any ProjectionFold.Type], progress: (String, UInt64, UInt64) -> Void
    ) throws(LedgerError) -> [ProjectionRun] {
        guard !folds.isEmpty else { return [] }
        let start = DispatchTime.now().uptimeNanoseconds
        let end = reader.size
        var passes: [any RebuildPass] = []
        for fold in folds { passes.append(try Self.pass(of: fold, directory: directory)) }
        // The shared scan reports as the first projection; each projection completes, in order, when published.
        progress(passes[0].projection, 0, end)
        var begun: [any RebuildPass] = []
        let timings: [ScanTimings]
        do throws(LedgerError) {
            for pass in passes {
                try pass.file.database.execute("BEGIN IMMEDIATE")
                begun.append(pass)
            }
            timings = try withoutActuallyEscaping(progress) { (progress) throws(LedgerError) in
                var nextReport: UInt64 = 0
                let first = passes[0].projection
                let report = { (record: RecordView) in
                    if record.seq >= nextReport {
                        progress(first, record.seq, end)
                        nextReport = record.seq + 16_384
                    }
                }
                let scanFolds = passes.enumerated().map { $0.element.scanFold(progress: $0.offset == 0 ? report : nil) }
                return try reader.scan(0..<end, folds: scanFolds, threads: workers > 1, readers: workers)
            }
            for pass in passes {
                try pass.finish(checkpoint: end)
                try pass.file.database.execute("COMMIT")
            }
        } catch {
            for pass in begun { try? pass.file.database.execute("ROLLBACK") }
            throw error
        }
        for pass in passes {
            try pass.file.publish(in: directory)
            progress(pass.projection, end, end)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return zip(passes, timings).map { pass, timing in
            ProjectionRun(
                projection: pass.projection, rebuilt: true, fromSeq: 0, toSeq: end, events: end,
                calls: pass.callCount, seconds: seconds, readSeconds: Double(timing.readNanos) / 1e9,
                decodeSeconds: Double(timing.filterNanos + timing.bodyNanos - min(pass.applyNanos, timing.bodyNanos))
                    / 1e9,
                applySeconds: Double(pass.applyNanos) / 1e9, eventsPerSecond: seconds > 0 ? Double(end) / seconds : 0,
                workers: workers)
        }
    }

    private static func pass<Fold: ProjectionFold>(
        of _: Fold.Type, directory: String
    ) throws(LedgerError) -> any RebuildPass {
        try RebuildPassOf<Fold>(directory: directory)
    }
}
