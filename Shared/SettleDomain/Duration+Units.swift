/// `Duration` in the units the database, HTTP clients and metrics take. Truncates below the unit.
extension Duration {
    /// Seconds with their fraction, for `make_interval(secs => …)` and `TimeInterval`.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    public var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
