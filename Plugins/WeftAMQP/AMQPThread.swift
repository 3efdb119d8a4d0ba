import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

/// Starts a dedicated OS thread: librabbitmq blocks, so its connections never run on the
/// cooperative pool.
enum AMQPThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new detached thread named `name` (at most 15 characters are kept).
    static func detach(name: String, _ body: @escaping () -> Void) {
        let name = String(name.prefix(15))
        let box = Unmanaged.passRetained(Box {
            weft_name_current_thread(name)
            body()
        }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        pthread_detach(thread)
    }
}
