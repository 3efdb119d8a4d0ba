import Foundation

/// Reads files that people and scripts name (blueprints, snapshots), refusing one too large to
/// hold before reading it all: a hostile file, or `/dev/zero`, cannot take the reader's memory.
public enum FileContents {
    /// Why a file was not read.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// Nothing is at the path.
        case missing
        /// Something is there, but it cannot be read (a directory, no permission).
        case unreadable
        /// It is larger than the limit (in bytes).
        case tooLarge(limit: Int)

        public var description: String {
            switch self {
            case .missing: "no such file"
            case .unreadable: "it cannot be read"
            case .tooLarge(let limit): "it is larger than \(limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit) bytes")"
            }
        }
    }

    /// The contents of the file at `path`, if it holds at most `limit` bytes.
    public static func read(_ path: String, limit: Int) -> Result<Data, Failure> {
        do {
            let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? file.close() }
            let data = try file.read(upToCount: limit + 1) ?? Data()
            return data.count <= limit ? .success(data) : .failure(.tooLarge(limit: limit))
        } catch {
            return .failure(FileManager.default.fileExists(atPath: path) ? .unreadable : .missing)
        }
    }
}
