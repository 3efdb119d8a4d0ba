import Foundation
import Weft

/// Reads blueprints from JSON files, with one-line errors for people.
public enum BlueprintFile {
    /// Loads and decodes the blueprint at `path`.
    ///
    /// - Throws: ``WeftError`` with ``WeftError/Code/fileNotFound`` when the file cannot be read,
    ///   ``WeftError/Code/malformedJSON`` when it is not JSON, and
    ///   ``WeftError/Code/invalidBlueprint`` when it is JSON but not a blueprint.
    public static func load(_ path: String) throws -> Blueprint {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file"
            throw WeftError(.fileNotFound, "cannot read blueprint '\(path)': \(reason)")
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

