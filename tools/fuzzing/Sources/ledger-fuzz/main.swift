// ledger-fuzz: one executable for every libFuzzer target of CallLedger. `ledger-fuzz TARGET [libFuzzer
// options] [CORPUS...]` fuzzes TARGET (or replays the files given); `ledger-fuzz list` prints the targets;
// `ledger-fuzz export-seeds LEDGER KEYFILE DIR` writes record, value and frame seeds from a real ledger.
// libFuzzer's own `main` cannot be linked through SwiftPM, so this calls its driver, LLVMFuzzerRunDriver.
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's driver: parses the options in argv, then fuzzes or replays with `callback` as the target.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// AddressSanitizer's defaults for this binary: no leak check. Swift's runtime keeps metadata and lazily
/// initialised globals alive on purpose, which LeakSanitizer reports at exit as leaks of the last input.
@_cdecl("__asan_default_options")
func asanDefaultOptions() -> UnsafePointer<CChar> {
    let options: StaticString = "detect_leaks=0"
    return UnsafeRawPointer(options.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The target the driver's callback runs; set once before the driver starts, read only by its thread.
nonisolated(unsafe) var selectedTarget: FuzzTarget?

func usage() -> Never {
    let names = FuzzTarget.all.map(\.name).joined(separator: " ")
    print("usage: ledger-fuzz TARGET [libFuzzer options] [CORPUS_DIR | FILE...]\n       ledger-fuzz list")
    print("       ledger-fuzz export-seeds LEDGER_DIR KEY_FILE OUT_DIR\ntargets: \(names)")
    exit(2)
}

/// The environment variable that names the target for libFuzzer's child processes (`-fork`, `-jobs`), which it
/// starts with the options only.
let targetVariable = "LEDGER_FUZZ_TARGET"

let arguments = CommandLine.arguments
var driverArgc = CommandLine.argc
var driverArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let commands = ["list", "export-seeds"] + FuzzTarget.all.map(\.name)
if let inherited = getenv(targetVariable).map({ String(cString: $0) }),
    let target = FuzzTarget.all.first(where: { $0.name == inherited }),
    arguments.count < 2 || !commands.contains(arguments[1])
{
    selectedTarget = target
} else {
    guard arguments.count >= 2 else { usage() }
    switch arguments[1] {
    case "list":
        for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
        exit(0)
    case "export-seeds":
        guard arguments.count == 5 else { usage() }
        do {
            let counts = try SeedExport.export(ledger: arguments[2], keyFile: arguments[3], to: arguments[4])
            print(
                "export-seeds: \(counts.records) records, \(counts.values) values, \(counts.frames) frames, "
                    + "\(counts.sideCars) side-car frames")
            exit(0)
        } catch {
            print("export-seeds: \(error)")
            exit(1)
        }
    default:
        guard let target = FuzzTarget.all.first(where: { $0.name == arguments[1] }) else {
            print("ledger-fuzz: unknown target '\(arguments[1])'")
            usage()
        }
        selectedTarget = target
        setenv(targetVariable, target.name, 1)
        // The driver sees argv without the target name, as if this were a libFuzzer binary of that one target.
        let argv = CommandLine.unsafeArgv
        argv[1] = argv[0]
        driverArgc -= 1
        driverArgv = argv + 1
    }
}

exit(
    runDriver(&driverArgc, &driverArgv) { data, size in
        guard let target = selectedTarget else { return 0 }
        target.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    })
