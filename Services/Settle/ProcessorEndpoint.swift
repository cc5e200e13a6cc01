/// The two money-moving endpoints. Each keeps its own idempotency keys and its own table of
/// what it moved, so a client that derives both keys from one order id cannot have a refund
/// replay the charge's answer.
enum ProcessorEndpoint: String, Sendable {
    case charges
    case refunds

    /// The table of what this endpoint moved (a name of ours, never input).
    var table: String { rawValue }
    var object: String { self == .charges ? "charge" : "refund" }
    var idPrefix: String { self == .charges ? "ch_" : "re_" }
}
