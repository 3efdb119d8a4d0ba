import Testing
import Weft
import WeftSamples

@Suite("Samples")
struct SampleTests {
    @Test("The order pipeline auto-approves a small order and ships it after the join")
    func orderPipelineSmall() async throws {
        let workflow = OrderPipeline.workflow
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: OrderPipeline.sampleInput)
        #expect(result.status == .completed)
        #expect(result.output == ["shipped": true, "invoice": "INV-A-1001", "parcels": 2])
        #expect(result[node: "review"]?.status == .skipped)
    }

    @Test("The order pipeline holds a large order from an unknown domain: everything after review is skipped")
    func orderPipelineHeld() async throws {
        let workflow = OrderPipeline.workflow
        let input: JSONValue = ["orderId": "B-2", "customer": "eve@elsewhere.org", "lines": [["sku": "loom", "quantity": 1, "price": 900]]]
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: input)
        #expect(result.status == .completed)
        #expect(result.output?["total"] == 900)
        #expect(["reserve", "charge", "invoice", "ship"].allSatisfy { result[node: $0]?.status == .skipped })
    }

    @Test("Document processing retries the fetch, falls back to plain extraction and routes an invoice")
    func documentProcessing() async throws {
        let workflow = DocumentProcessing.workflow
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: DocumentProcessing.sampleInput)
        #expect(result.status == .completed)
        #expect(result[node: "fetch"]?.attempts == 3)
        #expect(result[node: "extract"]?.usedFallback == true)
        #expect(result.output == ["kind": "invoice", "total": "420.00 EUR", "lines": 5, "summary": "invoice processed"])
        #expect(result[node: "contract-terms"]?.status == .skipped)
    }

    @Test("Both samples validate against their registries")
    func samplesValidate() {
        for sample in SampleCatalog.samples { #expect(sample.workflow.validate().isValid, "\(sample.name)") }
    }
}

@Suite("Samples, embedded and distributed")
struct SampleSwitchTests {
    @Test("Each sample gives the same result on a fleet of workers as embedded, with the same node code", arguments: SampleCatalog.samples.map(\.name))
    func sameResult(_ name: String) async throws {
        let sample = try #require(SampleCatalog.sample(named: name))
        let embedded = try await SampleRunner.run(sample, mode: .embedded, print: { _ in })
        let distributed = try await SampleRunner.run(sample, mode: .distributed(workers: 3), print: { _ in })
        #expect(distributed.status == embedded.status)
        #expect(distributed.output == embedded.output)
        #expect(distributed.nodes.map(\.status) == embedded.nodes.map(\.status))
        #expect(distributed.nodes.map(\.attempts) == embedded.nodes.map(\.attempts))
        #expect(distributed.context == embedded.context)
    }
}
