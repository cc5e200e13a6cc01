import SettleDomain
import SettleRuntime

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
            let settings = try APISettings(environment: context.environment)
            let built = OrderAPIApplication.buildRouter(postgres: context.postgres, redis: context.redis, settings: settings, logger: context.logger)
            return (built.router, [built.ingest])
        }
    }
}
