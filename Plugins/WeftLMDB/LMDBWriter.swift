import CLMDB
import DequeModule
import Synchronization
import Weft

#if canImport(Glibc)
import Glibc
#endif

/// The environment's one writer: a dedicated thread that takes every write waiting, runs them in
/// one transaction (a write that fails undoes none of the others) and commits once, with one
/// fsync in durable mode; then resumes each writer. This
/// is group commit: with many concurrent writers, a commit carries many writes.
final class LMDBWriter: Sendable {
    /// A write waiting for the writer thread.
    struct Request: Sendable {
        /// Runs inside the transaction; returns what to do once the commit is durable.
        let run: @Sendable (LMDBTransaction) throws -> (@Sendable () -> Void)
        let fail: @Sendable (any Error) -> Void
    }

    private let queue = Mutex<(requests: Deque<Request>, stopping: Bool)>(([], false))
    private let signal = LMDBSignal()
    private let finished = LMDBSignal()
    private let done = Mutex(false)

    /// Starts the writer thread for `environment`.
    init(environment: LMDBEnvironment) {
        LMDBThread.detach(name: "weft-lmdb-write") { [self] in
            self.run(environment)
            self.done.withLock { $0 = true }
            self.finished.broadcast()
        }
    }

    /// Queues `request`; the writer takes it with whatever else waits.
    func submit(_ request: Request) {
        let accepted = queue.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.requests.append(request)
            return true
        }
        guard accepted else { return request.fail(LMDBError(.closed, "The LMDB environment is closed")) }
        signal.signal()
    }

    /// Finishes the writes already queued, then stops the thread (blocking the caller until then).
    func stop() {
        queue.withLock { $0.stopping = true }
        signal.signal()
        finished.wait(until: { done.withLock { $0 } })
    }

    private func take(limit: Int) -> [Request]? {
        while true {
            let (batch, stopping) = queue.withLock { state -> ([Request], Bool) in
                let count = min(limit, state.requests.count)
                let batch = Array(state.requests.prefix(count))
                state.requests.removeFirst(count)
                return (batch, state.stopping)
            }
            if !batch.isEmpty { return batch }
            if stopping { return nil }
            signal.wait(until: { queue.withLock { !$0.requests.isEmpty || $0.stopping } })
        }
    }

    private func run(_ environment: LMDBEnvironment) {
        while let batch = take(limit: environment.configuration.maxBatch) {
            commit(batch, in: environment)
        }
    }

    /// Runs `batch` in one transaction and commits it, growing the map and trying again when it
    /// is full. The writes run straight in the batch's transaction (no nested transaction each:
    /// a third of a write's cost). When one throws, the transaction is abandoned, that write
    /// fails alone and the others run again in a new one: a write is a function of what it
    /// reads, so running it again is safe, and failures are rare.
    private func commit(_ batch: [Request], in environment: LMDBEnvironment) {
        var pending = batch
        while !pending.isEmpty {
            var transaction: OpaquePointer?
            let began = environment.beginWrite(&transaction)
            guard began == 0, let transaction else {
                let error = LMDBError.status(began, "starting a write")
                for request in pending { request.fail(error) }
                return
            }
            var completions: [@Sendable () -> Void] = []
            completions.reserveCapacity(pending.count)
            var outcome = Outcome.ran
            for (index, request) in pending.enumerated() {
                do {
                    completions.append(try request.run(LMDBTransaction(pointer: transaction)))
                } catch let error as LMDBError where error.code == .mapFull {
                    outcome = .full
                    break
                } catch {
                    outcome = .failed(index, error)
                    break
                }
            }
            if case .ran = outcome {
                let status = mdb_txn_commit(transaction)
                if status == 0 {
                    for completion in completions { completion() }
                    return
                }
                guard status == MDB_MAP_FULL else {
                    let error = LMDBError.status(status, "committing", directory: environment.canonicalPath)
                    for request in pending { request.fail(error) }
                    return
                }
                outcome = .full
            } else {
                mdb_txn_abort(transaction)
            }
            switch outcome {
            case .ran: return
            case .full:
                if let error = environment.grow() {
                    for request in pending { request.fail(error) }
                    return
                }
            case .failed(let index, let error):
                pending.remove(at: index).fail(error)
            }
        }
    }

    private enum Outcome {
        case ran
        case full
        case failed(Int, any Error)
    }
}

/// A condition variable over a pthread mutex, for the writer thread to sleep on.
final class LMDBSignal: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func signal() {
        pthread_mutex_lock(mutex)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func broadcast() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps until `ready` holds (checked under the mutex, so no signal is missed).
    func wait(until ready: () -> Bool) {
        pthread_mutex_lock(mutex)
        while !ready() { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }
}

/// Starts a dedicated OS thread (LMDB write transactions begin and commit on one thread).
enum LMDBThread {
    static func detach(name: String, _ body: @escaping () -> Void) {
        let name = String(name.prefix(15))
        DedicatedThread.detach {
            weft_lmdb_name_current_thread(name)
            body()
        }
    }
}
