// A worker executable of your own, in one call: this one serves the samples' node code and
// blueprints. Build yours the same way with your registry and blueprints, and point the foreman
// at it (`"foreman": {"workerCommand": [".build/release/fleet-worker"]}`).
//
//   swift run fleet-worker --broker amqp://127.0.0.1:5672/ --store /tmp/weft-state
import WeftFleet
import WeftSamples

await WorkerProgram(
    registry: SampleCatalog.registry,
    blueprints: (SampleCatalog.samples + FleetWorkloads.all).map(\.workflow.blueprint)
).main()
