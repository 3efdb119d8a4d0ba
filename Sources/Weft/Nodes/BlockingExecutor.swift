import DequeModule
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pool of dedicated threads for nodes declared blocking (``Node/blocking()``): CPU-bound
/// work or calls that block a thread (a synchronous library, file I/O). Their attempts run on
/// these threads as a task executor preference, so the cooperative pool — two threads on a
/// two-core machine — stays free for async nodes and the runtime itself.
public final class BlockingExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the pthread mutex and condition are only touched under their own rules.
    private let jobs = Mutex(Deque<UnownedJob>())
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// How many threads it runs.
    public let threads: Int

    /// A pool of `threads` threads (at least one), started now and kept for the process's life.
    public init(threads: Int) {
        self.threads = max(1, threads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for _ in 0..<self.threads {
            DedicatedThread.detach { [self] in
                Thread.current.name = Self.threadName
                pthread_setspecific(Self.marker, UnsafeRawPointer(bitPattern: 1))
                self.serve()
            }
        }
    }

    /// The name its threads carry (as `top -H` and debuggers show them).
    public static let threadName = "weft-blocking"

    /// Marks the threads of every blocking executor.
    private static let marker: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the caller runs on a blocking executor's thread.
    public static var isCurrentThreadBlocking: Bool { pthread_getspecific(marker) != nil }

    /// The process's shared pool, one thread per core: what runtimes use unless told otherwise.
    public static let shared = BlockingExecutor(threads: max(2, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        pthread_mutex_lock(mutex)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func serve() {
        while true {
            pthread_mutex_lock(mutex)
            var job = jobs.withLock { $0.popFirst() }
            while job == nil {
                pthread_cond_wait(condition, mutex)
                job = jobs.withLock { $0.popFirst() }
            }
            pthread_mutex_unlock(mutex)
            job?.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
