import Foundation
import Testing
import WeftFleet

/// The bad-input matrix, the command line's side: hostile files and arguments given to the
/// `weft` executable of this build, each in a process of its own, so that the kernel reports its
/// peak memory (`wait4`'s `ru_maxrss`). Each must end with its typed error (or, for input that is
/// hostile only in size, its verdict), exit normally (no signal), and stay under a memory bound.
@Suite("Bad-input matrix: hostile files and arguments given to weft")
struct CLIBadInputTests {
    /// The memory bound, in KiB: the CLI at rest takes about 32 MiB.
    static let memoryBound = 256 * 1024

    /// What a hostile case must produce.
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        /// The arguments after `weft`; `{file}` is replaced by the case's file.
        var arguments: [String]
        /// The file's contents, when the case has one.
        var file: [UInt8]?
        /// The exit status.
        var status: Int32 = 1
        /// A text the output (standard error and output) must contain.
        var expected: String
        var description: String { name }
    }

    static func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// `count` nodes in one cycle: no start node, every node in the cycle.
    static func cycle(_ count: Int) -> [UInt8] {
        let nodes = (0..<count).map { #"{"id":"n\#($0)","uses":"util.pass"}"# }.joined(separator: ",")
        let edges = (0..<count).map { #"{"source":"n\#($0)","target":"n\#(($0 + 1) % count)"}"# }.joined(separator: ",")
        return json(#"{"id":"cycle","nodes":[\#(nodes)],"edges":[\#(edges)]}"#)
    }

    /// Two nodes joined by an edge with `condition`.
    static func condition(_ condition: String) -> [UInt8] {
        json(#"{"id":"c","nodes":[{"id":"a","uses":"util.pass"},{"id":"b","uses":"util.pass"}],"edges":[{"source":"a","target":"b","condition":"\#(condition)"}]}"#)
    }

    /// One node with `params`.
    static func params(_ params: String) -> [UInt8] {
        json(#"{"id":"p","nodes":[{"id":"a","uses":"util.pass","params":\#(params)}]}"#)
    }

    static var sample: String { CLITests.blueprints.appendingPathComponent("order-pipeline.json").path }

    static let cases: [Case] = {
        let valid = (try? Data(contentsOf: URL(fileURLWithPath: sample))).map { [UInt8]($0) } ?? []
        var random = SystemRandomNumberGenerator()
        let noise = (0..<(BlueprintFile.maxSize + 4096)).map { _ in UInt8.random(in: 0...255, using: &random) }
        return [
            Case(name: "a cycle of 10,000 nodes", arguments: ["validate", "{file}"], file: cycle(10_000), expected: "cycle: The edges form a cycle through n0"),
            Case(name: "a condition nested 50,000 parentheses deep", arguments: ["validate", "{file}"],
                file: condition(String(repeating: "(", count: 50_000) + "1" + String(repeating: ")", count: 50_000)),
                expected: "nests deeper than 64 levels"),
            Case(name: "a condition of 200,000 negations", arguments: ["validate", "{file}"],
                file: condition(String(repeating: "!", count: 200_000) + "true"), expected: "nests deeper than 64 levels"),
            Case(name: "a condition of 200,000 minus signs", arguments: ["validate", "{file}"],
                file: condition(String(repeating: "-", count: 200_000) + "1 == 1"), expected: "invalid_condition"),
            Case(name: "a condition of 100,000 chained comparisons", arguments: ["validate", "{file}"],
                file: condition(Array(repeating: "1", count: 100_000).joined(separator: " == ")), expected: "invalid_condition"),
            Case(name: "params nested 100,000 arrays deep", arguments: ["validate", "{file}"],
                file: params(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)), expected: "is not valid JSON"),
            Case(name: "params of a million-element array (under the size limit)", arguments: ["validate", "{file}"],
                file: params("[" + (0..<1_000_000).map { _ in "7" }.joined(separator: ",") + "]"), status: 0, expected: "valid (1 nodes, 0 edges)"),
            Case(name: "the worst blueprint under the size limit: an array of two million one-digit numbers", arguments: ["validate", "{file}"],
                file: params("[" + String(repeating: "7,", count: (BlueprintFile.maxSize - 100) / 2) + "7]"), status: 0, expected: "valid (1 nodes, 0 edges)"),
            Case(name: "a file over the size limit", arguments: ["validate", "{file}"],
                file: params("\"" + String(repeating: "x", count: BlueprintFile.maxSize) + "\""), expected: "larger than 4 MiB"),
            Case(name: "random bytes over the size limit", arguments: ["validate", "{file}"], file: noise, expected: "larger than 4 MiB"),
            Case(name: "/dev/zero", arguments: ["validate", "/dev/zero"], expected: "larger than 4 MiB"),
            Case(name: "a directory", arguments: ["validate", "/tmp"], expected: "cannot read blueprint '/tmp'"),
            Case(name: "an empty file", arguments: ["validate", "{file}"], file: [], expected: "is not valid JSON"),
            Case(name: "a blueprint cut in half", arguments: ["validate", "{file}"], file: Array(valid.prefix(valid.count / 2)), expected: "is not valid JSON"),
            Case(name: "invalid UTF-8", arguments: ["validate", "{file}"], file: [0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D], expected: "is not valid JSON"),
            Case(name: "nodes of the wrong type", arguments: ["validate", "{file}"], file: json(#"{"id":"x","nodes":"all of them"}"#), expected: "is not a blueprint"),
            Case(name: "a number for a node id", arguments: ["validate", "{file}"], file: json(#"{"id":"x","nodes":[{"id":7,"uses":"util.pass"}]}"#), expected: "is not a blueprint"),
            Case(name: "a number of 400 digits", arguments: ["validate", "{file}"], file: params(String(repeating: "9", count: 400)), expected: "valid"),
            Case(name: "an edge to a node that is not there", arguments: ["validate", "{file}"],
                file: json(#"{"id":"x","nodes":[{"id":"a","uses":"util.pass"}],"edges":[{"source":"a","target":"ghost"}]}"#), expected: "unknown_edge_node"),
            Case(name: "10,000 nodes of one id", arguments: ["validate", "{file}"],
                file: json(#"{"id":"x","nodes":[\#(Array(repeating: #"{"id":"a","uses":"util.pass"}"#, count: 10_000).joined(separator: ","))]}"#),
                expected: "duplicate_node"),
            Case(name: "a sleep of 10^11 seconds", arguments: ["validate", "{file}"],
                file: json(#"{"id":"x","nodes":[{"id":"a","uses":"weft.sleep","params":{"seconds":1e11}}]}"#), expected: "invalid_control"),
            Case(name: "a loop body that is a string", arguments: ["validate", "{file}"],
                file: json(#"{"id":"x","nodes":[{"id":"a","uses":"weft.loop","params":{"body":"run it all"}}]}"#), expected: "invalid_control"),
            Case(name: "--input nested 10,000 arrays deep", arguments: ["run", sample, "--input", String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)],
                expected: "--input is not valid JSON"),
            Case(name: "--input of invalid JSON", arguments: ["run", sample, "--input", "{\"orderId\": "], expected: "--input is not valid JSON"),
            Case(name: "--input of the wrong shape", arguments: ["run", sample, "--input", "[1, 2, 3]"], expected: "failed"),
            Case(name: "a signal without an action", arguments: ["run", sample, "--signal", "approval"], expected: "write node=action"),
            Case(name: "a store path through /dev/null", arguments: ["store", "stats", "/dev/null/state"], expected: "weft: error"),
            Case(name: "a snapshot that is /dev/zero", arguments: ["resume", "/dev/zero"], expected: "larger than 64 MiB"),
            Case(name: "a snapshot of the wrong shape", arguments: ["resume", "{file}"], file: json(#"{"runID": "../x", "blueprint": 7}"#),
                expected: "not a run snapshot"),
            Case(name: "a fleet configuration of wrong types", arguments: ["config", "check", "--config", "{file}"],
                file: json(#"{"broker": 5, "foreman": {"workers": -3}}"#), status: 64, expected: "broker: expected a string"),
            Case(name: "a fleet configuration nested 100,000 deep", arguments: ["config", "check", "--config", "{file}"],
                file: json(#"{"queues": "# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"),
                status: 64, expected: "is not valid JSON"),
        ]
    }()

    @Test("Each hostile input ends with its typed error, the process exits normally, and memory stays bounded", arguments: cases)
    func hostile(_ hostile: Case) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("blueprint.json").path
        if let contents = hostile.file { try Data(contents).write(to: URL(fileURLWithPath: file)) }
        let arguments = hostile.arguments.map {
            $0.replacingOccurrences(of: "{file}", with: file).replacingOccurrences(of: "{dir}", with: folder.appendingPathComponent("store").path)
        }
        let result = try MeasuredProcess.run(FleetHarnessPath.weft, arguments, outputTo: folder.appendingPathComponent("output").path)
        // Plain values in the expectations: a failure must not print a hostile output whole.
        let excerpt = String(result.output.prefix(300))
        let signaled = result.signaled, status = result.status, peakMiB = result.peakKiB / 1024
        let printed = result.output.contains(hostile.expected), outputBytes = result.output.utf8.count
        #expect(!signaled, "weft \(hostile.name): killed by signal \(status)")
        #expect(status == hostile.status, "weft \(hostile.name): exit status \(status); it printed: \(excerpt)")
        #expect(printed, "weft \(hostile.name): it printed: \(excerpt)")
        #expect(outputBytes < 64 * 1024, "weft \(hostile.name): \(outputBytes) bytes of output")
        #expect(peakMiB < Self.memoryBound / 1024, "weft \(hostile.name): peak resident memory \(peakMiB) MiB")
    }
}

/// The `weft` executable built next to this test bundle.
enum FleetHarnessPath {
    static var weft: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path.contains(".xctest") { directory = directory.deletingLastPathComponent() }
        return directory.appendingPathComponent("weft").path
    }
}

/// A child process run to its end with `posix_spawn` and `wait4`, for its exit status and peak
/// resident memory.
enum MeasuredProcess {
    struct Result {
        var status: Int32
        var signaled: Bool
        var peakKiB: Int
        var output: String
    }

    struct SpawnFailed: Error, CustomStringConvertible {
        var code: Int32
        var description: String { "posix_spawn failed: \(String(cString: strerror(code)))" }
    }

    /// Runs `path` with `arguments`, standard output and error into the file `output`.
    static func run(_ path: String, _ arguments: [String], outputTo output: String) throws -> Result {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw SpawnFailed(code: spawned) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // WIFSIGNALED / WEXITSTATUS, which Swift does not import.
        let signal = status & 0x7F
        return Result(
            status: signal != 0 ? signal : (status >> 8) & 0xFF, signaled: signal != 0, peakKiB: usage.ru_maxrss, output: text)
    }
}
