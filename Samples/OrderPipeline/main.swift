import Foundation
import WeftSamples

// Runs the order pipeline embedded in memory, or with `--distributed` on a fleet of
// workers in this process: `swift run order-pipeline [--input '<json>'] [--distributed [--workers N]]`.
exit(await SampleRunner.main(sample: "order-pipeline"))
