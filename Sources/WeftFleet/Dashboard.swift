import Foundation

/// The text of `weft top`: a pure function of a snapshot, so that it is tested without a terminal.
public enum Dashboard {
    /// The lines of one frame, at most `width` columns each.
    public static func render(_ snapshot: FleetSnapshot, configuration: FleetConfiguration, width: Int = 100) -> [String] {
        var lines: [String] = []
        let time = timeFormatter.string(from: snapshot.takenAt)
        let broker = configuration.brokerDescription
        lines.append("weft top — \(time) UTC — broker \(broker) — store \(configuration.storeDescription)")
        func rate(_ value: Double?) -> String { value.map { String(format: "%.1f/s", $0) } ?? "…" }
        lines.append(
            "throughput \(rate(snapshot.jobsPerSecond))   retries \(rate(snapshot.retriesPerSecond))   failures \(rate(snapshot.failuresPerSecond))"
                + "   runs in flight \(snapshot.runsInFlight.map(String.init) ?? "?")")
        for problem in snapshot.problems { lines.append("! \(problem)") }
        lines.append("")

        var queueRows = [["QUEUE", "READY", "CONSUMERS", "DEAD", "RATE"]]
        for queue in snapshot.queues {
            queueRows.append([
                queue.name, queue.ready.map(String.init) ?? "absent", "\(queue.consumers)", "\(queue.deadLetters)",
                queue.rate.map { String(format: "%+.1f/s", $0) } ?? "",
            ])
        }
        lines += table(queueRows, rightAligned: [1, 2, 3, 4])
        lines.append("")

        var workerRows = [["WORKER", "STATE", "JOBS", "DONE", "FAILED", "RSS", "CURRENT"]]
        for worker in snapshot.workers {
            let current = worker.jobs.max { $0.seconds < $1.seconds }.map {
                "\($0.node) of \($0.run) (attempt \($0.attempt), \(String(format: "%.1f", $0.seconds)) s)"
            } ?? "idle"
            workerRows.append([
                "\(worker.pid)", worker.state, "\(worker.jobs.count)/\(worker.concurrency)", "\(worker.counts["completed"] ?? 0)",
                "\(worker.counts["failures"] ?? 0)", "\(worker.residentBytes / (1 << 20)) MB", current,
            ])
        }
        if snapshot.workers.isEmpty { workerRows.append(["-", "no worker reports on this machine", "", "", "", "", ""]) }
        lines += table(workerRows, rightAligned: [2, 3, 4, 5])

        lines.append("")
        lines.append("RECENT FAILURES")
        if snapshot.failures.isEmpty { lines.append("  none") }
        for failure in snapshot.failures.suffix(5) {
            lines.append(
                "  \(clock(failure.at))  \(failure.node) of \(failure.run), attempt \(failure.attempt): \(failure.error)")
        }

        lines.append("")
        if let foreman = snapshot.foreman {
            let running = foreman.slots.filter { $0.pid != nil }.count
            lines.append("FOREMAN pid \(foreman.pid): \(running) running, \(foreman.desiredWorkers) wanted")
            for decision in foreman.decisions.suffix(5) {
                lines.append("  \(clock(decision.at))  \(decision.action): \(decision.reason)")
            }
        } else {
            lines.append("FOREMAN none on this machine")
        }
        return lines.map { $0.count > width ? String($0.prefix(width - 1)) + "…" : $0 }
    }

    private static func table(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                if index == row.count - 1 { return cell }
                return rightAligned.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
    }

    private static let timeFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter
    }()

    private static func clock(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
