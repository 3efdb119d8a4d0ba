import CLMDB
import DequeModule
import Synchronization
import Weft

#if canImport(Glibc)
import Glibc
#endif

/// The environment's one writer: a dedicated thread that takes every write waiting, runs them in
/// one transaction (each in a nested transaction of its own, so one failing write does not undo
/// the others) and commits once, with one fsync in durable mode; then resumes each writer. This
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
    /// is full. A write that fails is dropped from the batch (its nested transaction undone);
    /// the others commit.
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
            var survivors: [Request] = []
            var full = false
            for request in pending {
                if full {
                    survivors.append(request)  // not run yet: tried on the grown map
                    continue
                }
                var child: OpaquePointer?
                let nested = mdb_txn_begin(environment.handle, transaction, 0, &child)
                guard nested == 0, let child else {
                    request.fail(LMDBError.status(nested, "starting a write"))
                    continue
                }
                do {
                    let completion = try request.run(LMDBTransaction(pointer: child))
                    let status = mdb_txn_commit(child)
                    if status == MDB_MAP_FULL {
                        full = true
                    } else if status != 0 {
                        throw LMDBError.status(status, "writing")
                    } else {
                        completions.append(completion)
                    }
                    survivors.append(request)
                } catch let error as LMDBError where error.code == .mapFull {
                    mdb_txn_abort(child)
                    full = true
                    survivors.append(request)
                } catch {
                    mdb_txn_abort(child)
                    request.fail(error)
                }
            }
            var status: Int32 = MDB_MAP_FULL
            if full {
                mdb_txn_abort(transaction)
            } else {
                status = mdb_txn_commit(transaction)
            }
            if status == MDB_MAP_FULL {
                if let error = environment.grow() {
                    for request in survivors { request.fail(error) }
                    return
                }
                pending = survivors
                continue
            }
            guard status == 0 else {
                let error = LMDBError.status(status, "committing")
                for request in survivors { request.fail(error) }
                return
            }
            for completion in completions { completion() }
            return
        }
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
