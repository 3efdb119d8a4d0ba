/// The time a store keeps: a monotonic duration since the store was created, read from any
/// `Clock`, so that tests can drive leases and timers with a manual clock.
public struct StoreClock: Sendable {
    private let elapsed: @Sendable () -> Duration

    /// Reads time from `clock`.
    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        elapsed = { origin.duration(to: clock.now) }
    }

    /// Reads time from the system's continuous clock.
    public static var continuous: StoreClock { StoreClock(ContinuousClock()) }

    /// The time since the clock was created.
    public var now: Duration { elapsed() }
}
