import Foundation

/// A one-line progress indicator on a terminal's standard error (nothing when not a terminal).
public final class ProgressLine: Sendable {
    /// The number of nodes.
    public let total: Int
    /// Whether standard error is a terminal (else nothing is drawn).
    public let enabled = isatty(STDERR_FILENO) == 1

    /// A line for a run of `total` nodes.
    public init(total: Int) { self.total = total }

    /// Draws `done` of the nodes as done.
    public func show(done: Int) {
        guard enabled else { return }
        let width = 30
        let filled = total == 0 ? width : min(width, done * width / total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(bar) \(done)/\(total) nodes".utf8))
    }

    /// Clears the line.
    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

