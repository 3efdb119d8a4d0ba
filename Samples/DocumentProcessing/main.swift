import Foundation
import WeftSamples

// Runs the document-processing flow embedded in memory: `swift run document-processing [--input '<json>']`.
exit(await SampleRunner.main(sample: "document-processing"))
