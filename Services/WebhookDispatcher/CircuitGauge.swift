import Logging
import Metrics
import ServiceLifecycle
import SettleStorage

/// How many webhook endpoints have their circuit open, read from the table every few seconds
/// into `settle_webhook_circuits_open` (the circuit lives in PostgreSQL, shared by every
/// dispatcher, so each reports the same count): the SettleWebhookCircuitsOpen alert reads it.
struct CircuitGauge: Service {
    let store: WebhookDeliveryStore
    var interval: Duration = .seconds(5)
    private static let open = Gauge(label: "settle_webhook_circuits_open")

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // A database that cannot answer leaves the last count; the dispatcher's other work reports the outage.
                if let count = try? await store.openCircuits() {  // within the store's statement deadline
                    Self.open.record(count)
                }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}
