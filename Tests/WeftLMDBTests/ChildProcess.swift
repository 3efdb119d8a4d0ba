import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
        // A thread of its own reads the pipe with blocking reads: `read` returning 0 is the
        // end of the output, which FileHandle's readability handler was seen to miss once.
        let reading = output.fileHandleForReading
        let pump = Thread {
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(reading.fileDescriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                pending.append(contentsOf: chunk[0..<count])
                guard let last = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
                let text = String(decoding: pending[...last], as: UTF8.self)
                pending.removeSubrange(...last)
                for line in text.split(separator: "\n") { continuation.yield(String(line)) }
            }
            continuation.finish()
        }
        exits = try ExitWatch.run(process)
        pump.start()
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
