import Weft

/// Decodes `bytes` as an envelope (what a worker does with every delivery). Bad input must be
/// refused with a `WeftError`, never crash; what decodes must survive a round trip unchanged.
@_cdecl("weft_fuzz_envelope")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let envelope = try? Envelope(decoding: bytes) else { return 0 }
    let again: Envelope
    do {
        again = try Envelope(decoding: envelope.encoded())
    } catch {
        fatalError("an envelope that decoded does not decode once encoded again: \(error)")
    }
    precondition(again == envelope, "an envelope changed in a round trip: \(envelope) became \(again)")
    return 0
}
