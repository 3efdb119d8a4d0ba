import Foundation

/// The wall clock and the continuous clock read together once, for a run: an attempt's start on
/// the continuous clock becomes wall-clock time without reading the wall clock again.
///
/// A class, held by reference: an instant (a 128-bit value) stored inline in the run's driver
/// made every async frame of the driver slower (the embedded runtime ran at 0.6 of its speed).
final class WallClockAnchor: Sendable {
    /// Wall-clock seconds since 1970 at ``instant``.
    let seconds: Double
    /// The continuous clock's reading at ``seconds``.
    let instant: ContinuousClock.Instant

    init() {
        seconds = Date().timeIntervalSince1970
        instant = ContinuousClock.now
    }
}
