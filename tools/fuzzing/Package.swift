// swift-tools-version: 6.2
// CallLedger's libFuzzer targets, in a package of their own so that the root package never carries sanitizer
// flags. Build and run them with `tools/fuzz`, which passes the ASan and sanitizer-coverage flags with -Xswiftc
// (so CallLedger's libraries are instrumented too), `-enable-testing` (the frame target reads LedgerStore's
// internal frame parser) and links libFuzzer's no-main runtime.
import PackageDescription

/// The root package is a path dependency, whose identity is the name of its directory (a worktree, a CI checkout).
let rootIdentity = Context.packageDirectory.split(separator: "/").dropLast(2).last.map(String.init) ?? "CallLedger"

let package = Package(
    name: "CallLedgerFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "ledger-fuzz",
            dependencies: [
                .product(name: "LedgerCore", package: rootIdentity),
                .product(name: "LedgerStore", package: rootIdentity),
                .product(name: "LedgerAdapters", package: rootIdentity),
                .product(name: "LedgerProjections", package: rootIdentity),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        )
    ],
    swiftLanguageModes: [.v6]
)
