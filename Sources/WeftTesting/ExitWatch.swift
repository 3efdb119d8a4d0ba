import Foundation

/// Waits for a child's exit: its termination handler, or — should Foundation miss the exit,
/// as it was seen to under load — `waitpid` itself, every 50 ms.
public enum ExitWatch {
    /// Runs `process` and returns the stream its termination handler feeds, for
    /// ``status(of:exits:)``.
    public static func run(_ process: Process) throws -> AsyncStream<Int32> {
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            exited.yield(process.terminationStatus)
            exited.finish()
        }
        try process.run()
        return exits
    }

    /// The exit status of `process` (or the signal that ended it); `exits` is fed by its
    /// termination handler.
    public static func status(of process: Process, exits: AsyncStream<Int32>) async -> Int32 {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exits { return status }
                return nil
            }
            group.addTask {
                let pid = process.processIdentifier
                // Reaped by Foundation (ECHILD): its handler reports the exit; its own status
                // fields are read only if the handler stays silent for seconds (they may lag
                // the reaping, which once read a SIGKILLed child as status 0).
                var reapedElsewhere = 0
                while !Task.isCancelled {
                    var status: Int32 = 0
                    let reaped = waitpid(pid, &status, WNOHANG)
                    if reaped == pid {
                        let signal = status & 0x7F
                        return signal == 0 ? (status >> 8) & 0xFF : signal
                    }
                    if reaped == -1 && errno == ECHILD && !process.isRunning {
                        reapedElsewhere += 1
                        if reapedElsewhere >= 100 { return process.terminationStatus }
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                return nil
            }
            var result: Int32?
            while result == nil, let next = await group.next() { result = next }
            group.cancelAll()
            return result ?? process.terminationStatus
        }
    }
}
