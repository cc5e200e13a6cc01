/// What an endpoint's failures lead to. After `failures` failed attempts in a row its circuit
/// opens: no delivery to it is claimed for `open`, then one is, and that answer closes the
/// circuit or opens it again. An endpoint that has failed every attempt for `disableAfter`
/// (DESIGN.md: 5 days with no success) is disabled, and a `webhook_endpoint.disabled` event
/// says so.
public struct WebhookEndpointHealth: Sendable {
    public var failures: Int
    public var open: Duration
    public var disableAfter: Duration

    public init(failures: Int, open: Duration, disableAfter: Duration) {
        self.failures = failures
        self.open = open
        self.disableAfter = disableAfter
    }
}
