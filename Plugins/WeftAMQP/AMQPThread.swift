import CRabbitMQ
import Weft

/// Starts a dedicated OS thread for a connection: librabbitmq blocks, so its connections never
/// run on the cooperative pool.
enum AMQPThread {
    /// Runs `body` on a new detached thread named `name` (at most 15 characters are kept).
    static func detach(name: String, _ body: @escaping () -> Void) {
        let name = String(name.prefix(15))
        DedicatedThread.detach {
            weft_name_current_thread(name)
            body()
        }
    }
}
