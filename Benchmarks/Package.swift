// swift-tools-version:6.1
import PackageDescription

// A nested package, so that the main build stays lean. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
let package = Package(
    name: "WeftBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "weft", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "WeftBenchmarks",
            dependencies: [
                .product(name: "Weft", package: "weft"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/WeftBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
