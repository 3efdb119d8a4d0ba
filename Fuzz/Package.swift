// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for the parsers that read what arrives from outside: the envelope decoder,
// the blueprint JSON decoder and validator, and the condition expression parser. A nested
// package (like Benchmarks/), built with `-sanitize=fuzzer` by fuzz.sh, never by the main build:
// the targets are one dynamic library, and each C driver in drivers/ links it with libFuzzer.
//   Fuzz/fuzz.sh [envelope|blueprint|condition|all] [SECONDS=60]
let package = Package(
    name: "WeftFuzz",
    products: [.library(name: "WeftFuzzTargets", type: .dynamic, targets: ["WeftFuzzTargets"])],
    dependencies: [.package(name: "weft", path: "..")],
    targets: [
        .target(
            name: "WeftFuzzTargets", dependencies: [.product(name: "Weft", package: "weft")], path: "Sources/WeftFuzzTargets")
    ]
)
