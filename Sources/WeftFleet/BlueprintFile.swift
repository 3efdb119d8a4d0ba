import Foundation
import Weft

/// Reads blueprints from JSON files, with one-line errors for people.
public enum BlueprintFile {
    /// The largest blueprint file read, in bytes: 4 MiB. A blueprint is a graph, not data; a
    /// larger file is refused before it is parsed, so a hostile one (or `/dev/zero`) cannot take
    /// the memory of the process that reads it. Parsed, a file of this size takes at most about
    /// 180 MiB (an array of two million one-digit numbers, the worst shape found).
    public static let maxSize = 4 << 20

    /// Loads and decodes the blueprint at `path`.
    ///
    /// - Throws: ``WeftError`` with ``WeftError/Code/fileNotFound`` when the file cannot be read,
    ///   ``WeftError/Code/payloadTooLarge`` when it is larger than ``maxSize``,
    ///   ``WeftError/Code/malformedJSON`` when it is not JSON, and
    ///   ``WeftError/Code/invalidBlueprint`` when it is JSON but not a blueprint.
    public static func load(_ path: String) throws -> Blueprint {
        let data: Data
        switch FileContents.read(path, limit: maxSize) {
        case .success(let contents): data = contents
        case .failure(.tooLarge): throw WeftError(.payloadTooLarge, "blueprint '\(path)' is larger than \(maxSize >> 20) MiB")
        case .failure(let failure): throw WeftError(.fileNotFound, "cannot read blueprint '\(path)': \(failure)")
        }
        do {
            _ = try JSONValue(parsing: data)
        } catch let error as WeftError {
            throw WeftError(.malformedJSON, "'\(path)' is not valid JSON: \(error.message.replacingOccurrences(of: "Malformed JSON: ", with: ""))")
        }
        do {
            return try JSONDecoder().decode(Blueprint.self, from: data)
        } catch {
            throw WeftError(.invalidBlueprint, "'\(path)' is not a blueprint: \(WeftError.describe(decodingError: error))")
        }
    }

    /// The JSON text of `blueprint`, pretty-printed with sorted keys.
    public static func encode(_ blueprint: Blueprint) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(blueprint), as: UTF8.self) + "\n"
    }
}

