import Foundation
import Synchronization

/// What a process of a fleet writes in its coordination store, once, so that the store serves
/// one fleet and one content per blueprint version (design §4):
///
/// - **the fleet**: the first process to use a store records its queue prefix in it; a process
///   of another fleet (another prefix) is refused (`store_owned_by_another_fleet`). Two fleets
///   sharing a store would read each other's runs: one's reconciler re-publishing the other's
///   jobs, a run "completed" with a result its fleet could not produce.
/// - **each blueprint version**: the first process to register a blueprint id and version
///   records a digest of its content; one with other content under that id and version is
///   refused (`blueprint_content_mismatch`): give the changed blueprint a new version.
///
/// Checked by a worker before it takes a job and by a client before it starts a run; a record
/// is written once (set-if-absent), so every process that passed agrees with every other.
final class StoreClaims: Sendable {
    private let records: any CoordinationStore
    private let prefix: String
    /// What this process checked already: the fleet, and blueprint keys.
    private let checked = Mutex<Set<String>>([])

    init(records: any CoordinationStore, options: FleetOptions) {
        self.records = records
        self.prefix = options.queuePrefix
    }

    /// The key of the fleet's claim.
    static let fleetKey = StoreKey(run: "", name: "weft.fleet")

    /// The key of a blueprint version's digest.
    static func blueprintKey(id: String, version: String) -> StoreKey {
        StoreKey(run: "", name: "weft.blueprint.\(id)\u{1F}\(version)")
    }

    /// Claims the store for this fleet, or checks that it is this fleet's.
    /// - Throws: ``WeftError/Code/storeOwnedByAnotherFleet`` when another fleet claimed it.
    func claimStore() async throws {
        guard !checked.withLock({ $0.contains("") }) else { return }
        let mine = Array(prefix.utf8)
        if case .exists(let owner) = try await records.setIfAbsent(Self.fleetKey, mine, fence: nil), owner != mine {
            let theirs = PrintableText.escaped(String(decoding: owner, as: UTF8.self))
            throw WeftError(
                .storeOwnedByAnotherFleet,
                "This state store belongs to the fleet with queue prefix \"\(theirs)\"; this process is of fleet \"\(prefix)\". "
                    + "Fleets must not share a store (they would run each other's jobs): give this fleet a store of its own")
        }
        checked.withLock { _ = $0.insert("") }
    }

    /// Records or checks the content digest of each of `blueprints`.
    /// - Throws: ``WeftError/Code/blueprintContentMismatch`` when the store has another content
    ///   for one's id and version.
    func check(_ blueprints: [Blueprint]) async throws {
        for blueprint in blueprints {
            let key = Self.blueprintKey(id: blueprint.id, version: blueprint.version)
            guard !checked.withLock({ $0.contains(key.name) }) else { continue }
            let digest = Array(Self.digest(of: blueprint).utf8)
            if case .exists(let stored) = try await records.setIfAbsent(key, digest, fence: nil), stored != digest {
                throw WeftError(
                    .blueprintContentMismatch,
                    "Blueprint \"\(blueprint.id)\" v\(blueprint.version) has other content in this fleet's store (digest "
                        + "\(PrintableText.escaped(String(decoding: stored, as: UTF8.self)))) than here (\(String(decoding: digest, as: UTF8.self))): "
                        + "a version means one content; give the changed blueprint a new version")
            }
            checked.withLock { _ = $0.insert(key.name) }
        }
    }

    /// The digest of a blueprint's content: of its JSON with sorted keys.
    static func digest(of blueprint: Blueprint) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(blueprint)).map(Array.init) ?? Array("\(blueprint)".utf8)
        return ContentDigest.of(bytes)
    }
}
