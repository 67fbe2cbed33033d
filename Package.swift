// swift-tools-version: 6.2
// CallLedger: a tamper-evident, zstd-compressed event ledger for contact-center call transcription.
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "CallLedger",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "LedgerStore", targets: ["LedgerStore"]),
        .library(name: "LedgerAdapters", targets: ["LedgerAdapters"]),
        .library(name: "LedgerProjections", targets: ["LedgerProjections"]),
        .library(name: "LedgerConnectors", targets: ["LedgerConnectors"]),
        .library(name: "LedgerOperations", targets: ["LedgerOperations"]),
        .library(name: "LedgerServer", targets: ["LedgerServer"]),
        .library(name: "NATSClient", targets: ["NATSClient"]),
        .library(name: "LedgerCluster", targets: ["LedgerCluster"]),
        .executable(name: "call-ledger", targets: ["call-ledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.3.0"),
    ],
    targets: [
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Not linked: the shim opens libcurl.so.4 on first use (see Sources/CCurl/shim.h).
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(name: "NATSClient", dependencies: ["CNats"], swiftSettings: strictSettings),
        .target(
            name: "LedgerCluster",
            dependencies: ["NATSClient", "LedgerCore", "LedgerStore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings),
        .target(name: "LedgerCore", dependencies: ["CCrypto", "CZstd"], swiftSettings: strictSettings),
        .target(
            name: "LedgerStore",
            dependencies: ["LedgerCore", "CZstd", "CSQLite", "CCrypto"],
            swiftSettings: strictSettings
        ),
        .target(name: "LedgerSimulator", dependencies: ["LedgerCore"], swiftSettings: strictSettings),
        .target(name: "LedgerAdapters", dependencies: ["LedgerCore"], swiftSettings: strictSettings),
        .target(
            name: "LedgerProjections",
            dependencies: ["LedgerCore", "LedgerStore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings),
        .target(name: "LedgerConnectors", dependencies: ["CCurl"], swiftSettings: strictSettings),
        .target(
            name: "LedgerOperations",
            dependencies: ["LedgerCore", "LedgerStore", "LedgerAdapters", "LedgerProjections", "LedgerConnectors"],
            swiftSettings: strictSettings),
        .target(
            name: "LedgerServer",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerProjections", "LedgerOperations", "LedgerAdapters", "LedgerCluster",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "call-ledger",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerSimulator", "LedgerAdapters", "LedgerProjections",
                "LedgerConnectors", "LedgerOperations", "LedgerServer", "LedgerCluster", "NATSClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ledger-bench", dependencies: ["LedgerStore", "LedgerProjections", "LedgerCluster", "NATSClient"],
            swiftSettings: strictSettings),
        .target(
            name: "LedgerTestSupport",
            dependencies: ["LedgerCore", "LedgerStore", "LedgerSimulator", "LedgerConnectors"],
            path: "Tests/LedgerTestSupport", swiftSettings: strictSettings),
        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerStoreTests",
            dependencies: ["LedgerStore", "LedgerCore", "LedgerSimulator", "LedgerTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LedgerProjectionsTests",
            dependencies: [
                "LedgerProjections", "LedgerStore", "LedgerCore", "LedgerSimulator", "LedgerTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CallLedgerCLITests",
            dependencies: ["LedgerConnectors", "LedgerCore", "LedgerStore", "LedgerTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LedgerConnectorsTests", dependencies: ["LedgerConnectors", "LedgerTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerOperationsTests",
            dependencies: [
                "LedgerOperations", "LedgerAdapters", "LedgerCore", "LedgerStore", "LedgerSimulator",
                "LedgerTestSupport",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerServerTests",
            dependencies: [
                "LedgerServer", "LedgerCore", "LedgerStore", "LedgerTestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LedgerClusterTests",
            dependencies: [
                "LedgerCluster", "NATSClient", "LedgerCore", "LedgerStore", "LedgerTestSupport",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ],
            swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
