// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "weft",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Weft", targets: ["Weft"]),
        .library(name: "WeftTesting", targets: ["WeftTesting"]),
        .library(name: "WeftConformance", targets: ["WeftConformance"]),
        .library(name: "WeftSamples", targets: ["WeftSamples"]),
        .library(name: "WeftAMQP", targets: ["WeftAMQP"]),
        .library(name: "WeftLMDB", targets: ["WeftLMDB"]),
        .library(name: "WeftPostgres", targets: ["WeftPostgres"]),
        .library(name: "WeftNATS", targets: ["WeftNATS"]),
        .library(name: "WeftFleet", targets: ["WeftFleet"]),
        .executable(name: "weft", targets: ["weft"]),
        .executable(name: "order-pipeline", targets: ["OrderPipeline"]),
        .executable(name: "expense-review", targets: ["ExpenseReview"]),
        .executable(name: "document-processing", targets: ["DocumentProcessing"]),
        .executable(name: "fleet-worker", targets: ["FleetWorker"]),
        .executable(name: "weft-chaos", targets: ["WeftChaos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The core: model, authoring, pure engine, local runtime. No I/O libraries.
        .target(
            name: "Weft",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            path: "Sources/Weft"
        ),
        // Test helpers for users of Weft: a manual clock, event recorders.
        .target(name: "WeftTesting", dependencies: ["Weft"], path: "Sources/WeftTesting"),
        // The conformance suites that every transport and store plugin must pass, and the
        // seeded fault simulator.
        .target(
            name: "WeftConformance",
            dependencies: ["Weft", "WeftTesting", .product(name: "Logging", package: "swift-log")],
            path: "Sources/WeftConformance"),
        // librabbitmq 0.11 from Debian (librabbitmq-dev), and the AMQP transport over it.
        .systemLibrary(
            name: "CRabbitMQ", path: "Plugins/CRabbitMQ", pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]),
        .target(
            name: "WeftAMQP",
            dependencies: [
                "Weft", "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Plugins/WeftAMQP"),
        // liblmdb 0.9 from Debian (liblmdb-dev), and the state stores over it.
        .systemLibrary(name: "CLMDB", path: "Plugins/CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .target(
            name: "WeftLMDB",
            dependencies: [
                "Weft", "CLMDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Plugins/WeftLMDB"),
        // The PostgreSQL state store, through postgres-nio: one fleet across many machines.
        .systemLibrary(name: "CNATS", path: "Plugins/CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(
            name: "WeftNATS",
            dependencies: [
                "Weft", "CNATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Plugins/WeftNATS"),
        .target(
            name: "WeftPostgres",
            dependencies: [
                "Weft", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/WeftPostgres"),
        // The fleet: configuration, the worker process and its graceful drain, the foreman,
        // metrics and tracing, run inspection and the dashboard.
        .target(
            name: "WeftFleet",
            dependencies: [
                "Weft", "WeftAMQP", "WeftLMDB", "WeftPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/WeftFleet"),
        // The CLI's logic, kept in a library so tests can drive it.
        .target(
            name: "WeftCLI",
            dependencies: [
                "Weft", "WeftSamples", "WeftLMDB", "WeftAMQP", "WeftFleet", "WeftPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/WeftCLI"
        ),
        .executableTarget(name: "weft", dependencies: ["WeftCLI"], path: "Sources/weft"),
        // Runnable samples: their node code and blueprints, and one executable each.
        .target(
            name: "WeftSamples", dependencies: ["Weft", .product(name: "Logging", package: "swift-log")],
            path: "Samples/WeftSamples"),
        .executableTarget(name: "OrderPipeline", dependencies: ["WeftSamples"], path: "Samples/OrderPipeline"),
        // A worker executable of one's own, built with WeftFleet's one call.
        .executableTarget(name: "FleetWorker", dependencies: ["WeftSamples", "WeftFleet"], path: "Samples/FleetWorker"),
        .executableTarget(
            name: "DocumentProcessing", dependencies: ["WeftSamples"], path: "Samples/DocumentProcessing"),
        .executableTarget(name: "ExpenseReview", dependencies: ["WeftSamples"], path: "Samples/ExpenseReview"),
        .testTarget(name: "WeftTests", dependencies: ["Weft", "WeftTesting", "WeftSamples", "WeftConformance"],
            path: "Tests/WeftTests"),
        .testTarget(
            name: "WeftAMQPTests", dependencies: ["WeftAMQP", "WeftLMDB", "Weft", "WeftConformance", "WeftSamples", "WeftTesting"],
            path: "Tests/WeftAMQPTests"),
        // The chaos test (scripts/chaos.sh): a fleet's driver, and its workers, under kills and restarts.
        .executableTarget(
            name: "WeftChaos",
            dependencies: [
                "Weft", "WeftFleet", "WeftConformance", "WeftTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/WeftChaos"),
        // A child process of the LMDB tests (races and crashes across processes).
        .executableTarget(
            name: "weft-lmdb-child", dependencies: ["WeftLMDB", "Weft"], path: "Tests/WeftLMDBChild"),
        .testTarget(
            name: "WeftLMDBTests",
            dependencies: [
                "WeftLMDB", "Weft", "WeftConformance", "WeftTesting", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/WeftLMDBTests"),
        .testTarget(
            name: "WeftFleetTests",
            dependencies: [
                "WeftFleet", "WeftCLI", "Weft", "WeftSamples", "WeftAMQP", "WeftLMDB", "WeftTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/WeftFleetTests"),
        .testTarget(
            name: "WeftNATSTests",
            dependencies: [
                "WeftNATS", "WeftLMDB", "Weft", "WeftConformance", "WeftTesting", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/WeftNATSTests"),
        .testTarget(
            name: "WeftPostgresTests",
            dependencies: ["WeftPostgres", "Weft", "WeftConformance", "WeftTesting", .product(name: "Logging", package: "swift-log")],
            path: "Tests/WeftPostgresTests"),
        .testTarget(
            name: "WeftCLITests", dependencies: ["WeftCLI", "WeftFleet", "Weft", "WeftLMDB", "WeftSamples"], path: "Tests/WeftCLITests"),
    ],
    swiftLanguageModes: [.v6]
)
