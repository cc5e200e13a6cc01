import SettleDomain
import SettleRuntime

/// `settle-relay`: for now it starts, checks its stores, applies migrations, serves
/// `/healthz`, `/readyz` and `/metrics`, and stops gracefully on SIGTERM.
@main
struct OutboxRelayMain {
    static func main() async {
        await ServiceHost(
            name: "settle-relay",
            portVariable: "SETTLE_RELAY_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.relay,
            needs: [.kafka]
        ).run()
    }
}
