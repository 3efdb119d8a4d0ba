import Foundation
import Synchronization
import WeftTesting

/// One iterator over a child's lines, used by one task at a time (hence `@unchecked`).
private final class LineReader: @unchecked Sendable {
    private var iterator: AsyncStream<String>.Iterator

    init(_ iterator: AsyncStream<String>.Iterator) { self.iterator = iterator }

    func next() async -> String? { await iterator.next() }
}

/// A `weft-lmdb-child` process (built next to the test bundle), with its stdout as lines.
final class ChildProcess: Sendable {
    let process: Process
    private let input: Pipe
    /// The lines it printed, as they come; finished when its stdout closes. Iterate it once
    /// (``nextLine()`` shares one iterator).
    let lines: AsyncStream<String>
    private let reader: LineReader
    private let exits: AsyncStream<Int32>

    init(_ arguments: [String]) throws {
        let executable = URL(fileURLWithPath: Self.buildDirectory).appendingPathComponent("weft-lmdb-child")
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        self.lines = lines
        let pending = Mutex([UInt8]())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            let complete = pending.withLock { buffer -> [String] in
                buffer.append(contentsOf: data)
                guard let last = buffer.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
                let text = String(decoding: buffer[...last], as: UTF8.self)
                buffer.removeSubrange(...last)
                return text.split(separator: "\n").map(String.init)
            }
            for line in complete { continuation.yield(line) }
        }
        exits = try ExitWatch.run(process)
        self.process = process
        reader = LineReader(lines.makeAsyncIterator())
    }

    /// The next line it printed, or `nil` once its output ended.
    func nextLine() async -> String? { await reader.next() }

    /// Writes a line to its stdin.
    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Kills it with SIGKILL: no cleanup of any kind runs.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
    }

    /// Waits for it to exit and returns its status.
    func exitStatus() async -> Int32 {
        await ExitWatch.status(of: process, exits: exits)
    }

    /// The directory of the test bundle, where SwiftPM puts the package's executables too.
    static var buildDirectory: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // `swift test` may run the bundle from inside the .xctest directory.
        while directory.path.contains(".xctest") { directory = directory.deletingLastPathComponent() }
        return directory.path
    }
}
