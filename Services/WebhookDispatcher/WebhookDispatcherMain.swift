import SettleDomain
import SettleRuntime

/// `settle-dispatcher`: for now it starts, checks its stores, applies migrations, serves
/// `/healthz`, `/readyz` and `/metrics`, and stops gracefully on SIGTERM.
@main
struct WebhookDispatcherMain {
    static func main() async {
        await ServiceHost(
            name: "settle-dispatcher",
            portVariable: "SETTLE_DISPATCHER_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.dispatcher,
            needs: [.kafka]
        ).run()
    }
}
