import Foundation
import Logging
import ServiceLifecycle

/// In a worker started by a foreman: when the foreman dies (the worker's parent changes), the
/// worker drains and stops, so that a restarted foreman does not find orphans doubling the fleet.
struct ForemanWatch: Service {
    let foreman: pid_t
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled {
            if getppid() != foreman {
                logger.warning("the foreman is gone; draining", metadata: ["weft.foreman": "\(foreman)"])
                return
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            } catch {
                return
            }
        }
    }
}
