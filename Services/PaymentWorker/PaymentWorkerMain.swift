import SettleDomain
import SettleRuntime

/// `settle-worker`: for now it starts, checks its stores, applies migrations, serves
/// `/healthz`, `/readyz` and `/metrics`, and stops gracefully on SIGTERM.
@main
struct PaymentWorkerMain {
    static func main() async {
        await ServiceHost(
            name: "settle-worker",
            portVariable: "SETTLE_WORKER_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.worker,
            needs: [.kafka]
        ).run()
    }
}
