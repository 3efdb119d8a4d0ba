import Foundation
import WeftSamples

// Runs the expense review (a batch, a wait for an approval answered by the runner, and a
// sub-workflow with a loop) embedded in memory, or with `--distributed` on a fleet of workers
// in this process: `swift run expense-review [--input '<json>'] [--distributed [--workers N]]`.
exit(await SampleRunner.main(sample: "expense-review"))
