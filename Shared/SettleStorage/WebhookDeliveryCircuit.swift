/// An endpoint's circuit breaker: after `failures` failed attempts in a row no delivery to it
/// is claimed for `open`; then one is, and its answer closes the circuit or opens it again.
public struct WebhookDeliveryCircuit: Sendable {
    public var failures: Int
    public var open: Duration

    public init(failures: Int, open: Duration) {
        self.failures = failures
        self.open = open
    }
}
