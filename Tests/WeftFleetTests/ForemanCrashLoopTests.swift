import Foundation
import Logging
import Testing
import Weft
@testable import WeftFleet

/// Issue 24: a foreman that gave up on every worker slot (each crash-looping) stayed alive with
/// no worker, so that nothing supervising it noticed. It now exits with an error that says why,
/// for systemd (or whatever runs it) to restart it or to alert.
@Suite("Foreman: every slot crash-looping")
struct ForemanCrashLoopTests {
    @Test("A foreman whose every worker crash-loops stops and fails, naming the crash loop", .timeLimit(.minutes(1)))
    func exitsWhenEverySlotCrashLoops() async throws {
        // No broker is reached: the foreman stops before its first sample of the queues.
        var settings = FleetConfiguration()
        settings.broker = "amqp://127.0.0.1:1/"
        settings.store = FileManager.default.temporaryDirectory.appendingPathComponent("weft-fleet-\(UUID().uuidString)").path
        settings.queuePrefix = "crash-" + UUID().uuidString.prefix(8).lowercased()
        settings.statusDir = FileManager.default.temporaryDirectory.appendingPathComponent("weft-status-\(UUID().uuidString)").path
        settings.foreman.workers = 2
        settings.foreman.minWorkers = 2
        settings.foreman.maxWorkers = 2
        settings.foreman.restartLimit = 2
        // A "worker" that fails at once, every time.
        settings.foreman.workerCommand = ["/bin/false"]
        let configuration = settings
        defer { try? FileManager.default.removeItem(atPath: configuration.statusDirectory) }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let foreman = Foreman(configuration: configuration, reload: { configuration }, logger: logger)
        let error = await #expect(throws: WeftError.self) { try await foreman.run() }
        #expect(error?.code == .workersCrashLooping)
        #expect(error?.message.contains("crash") == true)
        #expect(foreman.state.withLock { $0.slots.values.allSatisfy { $0.process == nil } })
    }
}
