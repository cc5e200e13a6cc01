/// A write was sent and its answer never came (the connection broke during COMMIT, or the
/// answer took longer than the caller waits): it may or may not have committed. The API answers 503 `outcome_unknown`, never "nothing was created";
/// a retry with the same `Idempotency-Key` replays the first answer if it did commit.
public struct OutcomeUnknown: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "outcome unknown: \(reason)" }

    public init(reason: String) {
        self.reason = reason
    }
}
