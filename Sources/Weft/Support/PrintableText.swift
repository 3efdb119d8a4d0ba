/// Text from outside (ids, labels, expressions, payloads) made safe to print on one line of a
/// terminal or a log: a message that quotes it can neither move the cursor, change colours,
/// reorder what follows (bidirectional overrides), nor forge a line of its own.
package enum PrintableText {
    /// `text` with every control character (C0, DEL, C1), line and paragraph separator and
    /// bidirectional formatting character written as `\u{…}`; everything else unchanged.
    package static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// `text` quoted for a message: at most 40 characters, control characters escaped, "…"
    /// when it was longer.
    package static func quoted(_ text: String) -> String {
        "\"" + escaped(String(text.unicodeScalars.prefix(40))) + (text.unicodeScalars.count > 40 ? "…" : "") + "\""
    }

    /// Whether `text` prints as it is: it has nothing ``escaped(_:)`` would escape.
    package static func isPrintable(_ text: String) -> Bool {
        // Printable ASCII, the usual id, is checked byte by byte without decoding scalars.
        let ascii = text.utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }
        if ascii == true { return true }
        return !text.unicodeScalars.contains(where: needsEscape)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true  // C0, DEL, C1
        case 0x2028, 0x2029: true  // line and paragraph separators
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x061C: true  // bidirectional formatting
        default: false
        }
    }
}
