import Foundation
import WeftSamples

// Runs the order pipeline embedded in memory: `swift run order-pipeline [--input '<json>']`.
exit(await SampleRunner.main(sample: "order-pipeline"))
