import Foundation
import WeftSamples

// Runs the document-processing flow embedded in memory, or with `--distributed` on a fleet of
// workers in this process: `swift run document-processing [--input '<json>'] [--distributed [--workers N]]`.
exit(await SampleRunner.main(sample: "document-processing"))
