// swift-tools-version:6.1
import PackageDescription

// A nested package, so that the main build stays lean. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
let package = Package(
    name: "WeftBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "weft", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The workloads, shared by the benchmarks and the memory probe.
        .target(
            name: "WeftWorkloads",
            dependencies: [.product(name: "Weft", package: "weft"), .product(name: "Logging", package: "swift-log")],
            path: "Sources/WeftWorkloads"),
        // The distributed runtime on in-memory backends alone in a process: node hops per second.
        .executableTarget(
            name: "distributed-probe", dependencies: ["WeftWorkloads", .product(name: "Weft", package: "weft")],
            path: "Sources/DistributedProbe"),
        // The chain workload in plain C over librabbitmq: the physical limit Weft's AMQP transport
        // is compared with.
        .target(name: "AMQPRawHops", path: "Sources/AMQPRawHops", linkerSettings: [.linkedLibrary("rabbitmq")]),
        // Raw librabbitmq, Weft's AMQP transport alone, and the distributed runtime over AMQP, in one
        // run against one broker: hops per second and their ratios.
        .executableTarget(
            name: "amqp-probe",
            dependencies: [
                "WeftWorkloads", "AMQPRawHops",
                .product(name: "Weft", package: "weft"), .product(name: "WeftAMQP", package: "weft"),
            ],
            path: "Sources/AMQPProbe"),
        // The peer comparison's physical limit: its three workloads in plain C (Benchmarks/peers).
        .executableTarget(
            name: "peers-raw", dependencies: ["AMQPRawHops", .product(name: "WeftAMQP", package: "weft")],
            path: "Sources/PeersRaw"),
        // Batched, fsynced LMDB puts in plain C: the limit Weft's LMDB store is compared with.
        // The chain workload in plain C over libnats: the physical limit of Weft's NATS transport.
        .target(name: "NATSRawHops", path: "Sources/NATSRawHops", linkerSettings: [.linkedLibrary("nats")]),
        // Raw libnats, Weft's NATS transport alone, and the distributed runtime over NATS, in one run.
        .executableTarget(
            name: "nats-probe",
            dependencies: [
                "WeftWorkloads", "NATSRawHops",
                .product(name: "Weft", package: "weft"), .product(name: "WeftNATS", package: "weft"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/NATSProbe"),
        .target(name: "LMDBRawPuts", path: "Sources/LMDBRawPuts", linkerSettings: [.linkedLibrary("lmdb")]),
        // The C loop, then Weft's LMDB coordination store with 1, 16 and 256 concurrent callers of
        // durable set-if-absent, and reads: operations per second and the ratio.
        .executableTarget(
            name: "lmdb-probe",
            dependencies: ["LMDBRawPuts", .product(name: "Weft", package: "weft"), .product(name: "WeftLMDB", package: "weft")],
            path: "Sources/LMDBProbe"),
        // A client of a running fleet (Benchmarks/fleet.sh starts one): hops/s, latencies, memory.
        .executableTarget(
            name: "fleet-probe",
            dependencies: [
                .product(name: "Weft", package: "weft"), .product(name: "WeftFleet", package: "weft"),
                .product(name: "WeftLMDB", package: "weft"),
                .product(name: "WeftSamples", package: "weft"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/FleetProbe"),
        .executableTarget(
            name: "WeftBenchmarks",
            dependencies: [
                "WeftWorkloads",
                .product(name: "Weft", package: "weft"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/WeftBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Workloads (b) and (d) alone in a process: medians, their ratio, peak resident memory.
        .executableTarget(
            name: "fanout-probe", dependencies: ["WeftWorkloads", .product(name: "Weft", package: "weft")],
            path: "Sources/FanOutProbe"),
    ],
    swiftLanguageModes: [.v6]
)
