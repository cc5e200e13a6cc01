import SettleDomain

/// Exponential backoff with full jitter: attempt n waits a uniformly random time in
/// `0 ... min(cap, base * 2^n)` (DESIGN.md "Retries": base 100 ms, cap 5 s).
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .milliseconds(100), cap: Duration = .seconds(5)) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling for a zero-based attempt number.
    public func ceiling(attempt: Int) -> Duration {
        let factor = 1 << min(max(attempt, 0), 30)
        let grown = base * factor
        return grown > cap ? cap : grown
    }

    public func delay(attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }

    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        .nanoseconds(Int64.random(in: 0...max(0, ceiling(attempt: attempt).nanoseconds), using: &generator))
    }
}
