import Foundation
import Weft

extension Foreman {
    /// The settings the foreman's workers read: the foreman's own, resolved, in a file of the
    /// status directory (so that flags and environment given to the foreman reach them, and a
    /// reload changes them all alike).
    var workerConfigurationPath: String {
        (configuration.statusDirectory as NSString).appendingPathComponent("worker-configuration.json")
    }

    /// Writes the workers' configuration, readable by this user only: it holds the broker's and
    /// the store's credentials. Written to a new file and renamed, so a worker never reads half.
    func writeWorkerConfiguration(_ configuration: FleetConfiguration) throws {
        // The workers use the foreman's status directory, whatever their own environment says.
        var configuration = configuration
        configuration.statusDir = configuration.statusDirectory
        try FleetStatusDirectory(path: configuration.statusDirectory)
            .write(Data(try configuration.json.jsonString(pretty: true).utf8), as: "worker-configuration.json", permissions: 0o600)
    }

    /// Adds a slot and starts a worker in it.
    func startNewSlot() {
        let index = state.withLock { state -> Int in
            let index = state.nextIndex
            state.nextIndex += 1
            state.slots[index] = Slot(index: index)
            return index
        }
        start(index)
    }

    /// Starts a worker process in slot `index`.
    func start(_ index: Int) {
        let configuration = self.configuration
        var command = configuration.foreman.workerCommand
        if command.isEmpty { command = [Self.ownExecutable, "worker"] }
        var arguments = Array(command.dropFirst()) + ["--config", workerConfigurationPath]
        if configuration.metricsPort > 0 { arguments += ["--metrics-port", "\(configuration.metricsPort + 1 + index)"] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = arguments
        process.environment = Self.workerEnvironment()
        let generation = state.withLock { state -> Int in
            state.slots[index]?.generation += 1
            return state.slots[index]?.generation ?? 0
        }
        let sink = eventSink
        process.terminationHandler = { process in
            sink.yield(
                .exited(
                    slot: index, generation: generation, status: process.terminationStatus,
                    signaled: process.terminationReason == .uncaughtSignal))
        }
        do {
            try process.run()
        } catch {
            decide("start-failed", "cannot start worker \(index) (\(command[0])): \(error)")
            sink.yield(.exited(slot: index, generation: generation, status: 127, signaled: false))
            return
        }
        state.withLock { state in
            state.slots[index]?.process = process
            state.slots[index]?.state = "running"
        }
        logger.info("worker started", metadata: ["weft.slot": "\(index)", "weft.pid": "\(process.processIdentifier)"])
    }

    /// This process's environment without the settings the configuration file carries (they
    /// would override it), with the foreman's pid, so that a worker whose foreman died drains,
    /// and with at most two malloc arenas unless the environment says otherwise.
    static func workerEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["WEFT_CONFIG"] = nil
        for (name, _) in FleetConfiguration.environmentVariables { environment[name] = nil }
        environment["WEFT_FOREMAN_PID"] = "\(getpid())"
        // glibc gives each thread that allocates an arena of its own; a worker's many short
        // tasks on few threads gain nothing from more than two, and each holds memory.
        if environment["MALLOC_ARENA_MAX"] == nil { environment["MALLOC_ARENA_MAX"] = "2" }
        return environment
    }

    /// The path of this executable.
    static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
