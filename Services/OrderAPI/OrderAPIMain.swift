import SettleDomain
import SettleRuntime

/// `settle-api`: for now it starts, checks its stores, applies migrations, serves
/// `/healthz`, `/readyz` and `/metrics`, and stops gracefully on SIGTERM.
@main
struct OrderAPIMain {
    static func main() async {
        await ServiceHost(
            name: "settle-api",
            portVariable: "SETTLE_API_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.api,
            needs: [.redis, .kafka]
        ).run()
    }
}
