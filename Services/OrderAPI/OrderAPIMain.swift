import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle-api`: the merchants' HTTP API (DESIGN.md "HTTP API v1").
@main
struct OrderAPIMain {
    static func main() async {
        await ServiceHost(
            name: "settle-api",
            portVariable: "SETTLE_API_PORT",
            defaultPort: ServicePorts.defaultBase + ServicePorts.api,
            needs: [.redis, .kafka],
            valueBuckets: [OrderIngest.batchSizeMetric: SettleMetrics.sizeBuckets]
        ).run(context: APIRequestContext.self) { context in
            let built = try OrderAPIApplication.build(context)
            return (built.router, built.services)
        }
    }
}
