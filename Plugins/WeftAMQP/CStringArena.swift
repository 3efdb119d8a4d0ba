import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

/// C strings that live until the arena is released.
final class CStringArena {
    private var allocations: [UnsafeMutablePointer<CChar>] = []

    /// A copy of `string` as C bytes, freed with the arena.
    func bytes(_ string: String) -> amqp_bytes_t {
        guard let copy = strdup(string) else { return amqp_empty_bytes }
        allocations.append(copy)
        return amqp_bytes_t(len: strlen(copy), bytes: UnsafeMutableRawPointer(copy))
    }

    deinit { for allocation in allocations { free(allocation) } }
}

extension timeval {
    /// `duration` as a `timeval` (microseconds, truncated), for librabbitmq's timeouts.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
