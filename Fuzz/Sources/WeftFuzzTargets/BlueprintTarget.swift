import Foundation
import Weft

/// Decodes `bytes` as a blueprint's JSON and validates it (what `weft validate`, `weft run` and a
/// worker loading blueprints do), then renders it. Neither may crash, whatever the input; a
/// blueprint that decodes must survive a JSON round trip with the same validation verdict.
@_cdecl("weft_fuzz_blueprint")
public func fuzzBlueprint(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: count))
    guard let blueprint = try? JSONDecoder().decode(Blueprint.self, from: bytes) else { return 0 }
    let report = blueprint.validate()
    _ = GraphRenderer.mermaid(blueprint)
    let again: Blueprint
    do {
        again = try JSONDecoder().decode(Blueprint.self, from: try JSONEncoder().encode(blueprint))
    } catch {
        fatalError("a blueprint that decoded does not decode once encoded again: \(error)")
    }
    precondition(again.validate().isValid == report.isValid, "a round trip changed the validation verdict")
    return 0
}
