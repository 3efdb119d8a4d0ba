import Synchronization
import Weft

extension ProtocolConformance {
    // MARK: Context store

    /// The context store's contract.
    public static let context: [ProtocolCheck] = [
        ProtocolCheck(.context, "patches apply atomically and read back") { harness, failures in
            let store = try await harness.makeBackends().contextStore
            let run = unique("run")
            var patch = ContextPatch()
            patch.set("a", 1)
            patch.set("b", "two")
            patch.set("c", true)
            patch.remove("c")
            try await store.apply(patch, run: run, origin: nil)
            let snapshot = try await store.snapshot(run: run)
            expect(snapshot == ["a": 1, "b": "two"], "snapshot \(snapshot)", into: &failures)
            expect(try await store.value(forKey: "b", run: run) == "two", "value(forKey:)", into: &failures)
            try await store.set("a", 5, run: run)
            expect(try await store.value(forKey: "a", run: run) == 5, "set", into: &failures)
            expect(try await store.snapshot(run: unique("other")).isEmpty, "runs are not isolated", into: &failures)
        },
        ProtocolCheck(.context, "a patch with an origin applies once") { harness, failures in
            let store = try await harness.makeBackends().contextStore
            let run = unique("run")
            let first = try await store.apply(ContextPatch([.init(key: "k", value: 1)]), run: run, origin: "n1.0")
            let again = try await store.apply(ContextPatch([.init(key: "k", value: 2)]), run: run, origin: "n1.0")
            expect(first && !again, "apply returned \(first), \(again)", into: &failures)
            expect(try await store.value(forKey: "k", run: run) == 1, "a repeated origin changed the context", into: &failures)
            try await store.deleteRun(run)
            expect(try await store.snapshot(run: run).isEmpty, "deleteRun left entries", into: &failures)
            let afterDelete = try await store.apply(ContextPatch([.init(key: "k", value: 3)]), run: run, origin: "n1.0")
            expect(afterDelete, "deleteRun kept the applied origins", into: &failures)
        },
        ProtocolCheck(.context, "concurrent patches all apply") { harness, failures in
            let store = try await harness.makeBackends().contextStore
            let run = unique("run")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        try await store.apply(
                            ContextPatch([.init(key: "k\(index)", value: JSONValue(index))]), run: run, origin: "o\(index)")
                    }
                }
                try await group.waitForAll()
            }
            let snapshot = try await store.snapshot(run: run)
            expect(snapshot.count == 64, "\(snapshot.count) of 64 entries", into: &failures)
        },
    ]
}
