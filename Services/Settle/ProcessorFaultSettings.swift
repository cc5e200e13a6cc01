/// The simulator's global faults (DESIGN.md "The card-processor simulator": flags and
/// `POST /faults`), as `GET /faults` shows them.
struct ProcessorFaultSettings: Sendable, Equatable, Codable {
    /// Share of `/charges` and `/refunds` requests answered 503 `processor_unavailable`, 0 to 1.
    var errorRate: Double = 0
    /// Added before a `/charges` or `/refunds` request is handled, 0 to 60,000 ms.
    var latencyMilliseconds: Int = 0
    /// Share of charges after which the connection is dropped instead of answered, 0 to 1.
    var crashAfterChargeRate: Double = 0
    /// Share of `/charges` and `/refunds` requests answered 200 with a body that is not JSON,
    /// before anything is charged or stored (a broken front end), 0 to 1: a worker dead-letters
    /// such an answer at once, and a replay once the fault is gone charges normally.
    var garbageRate: Double = 0

    static let rateRange = 0.0...1.0
    static let latencyRange = 0...60_000

    enum CodingKeys: String, CodingKey {
        case errorRate = "error_rate"
        case latencyMilliseconds = "latency_ms"
        case crashAfterChargeRate = "crash_after_charge_rate"
        case garbageRate = "garbage_rate"
    }
}
