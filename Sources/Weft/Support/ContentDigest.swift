/// A digest of bytes for telling contents apart (not for security): two FNV-1a hashes of 64
/// bits with different offsets, as 32 hexadecimal digits. Stable across processes, machines and
/// releases, unlike `Hasher`.
enum ContentDigest {
    static func of(_ bytes: some Sequence<UInt8>) -> String {
        var first: UInt64 = 0xCBF2_9CE4_8422_2325
        var second: UInt64 = 0x6C62_272E_07BB_0142
        for byte in bytes {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            second = (second ^ UInt64(byte ^ 0x5A)) &* 0x0000_0100_0000_01B3
        }
        return hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
