import PostgresNIO
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
            let settings = try APISettings(environment: context.environment)
            let claims = PostgresClient(
                configuration: try DatabaseConfiguration.make(url: context.settings.databaseURL, applicationName: "settle-api-claims", synchronousCommit: false),
                backgroundLogger: ServiceHost.quiet(context.logger)
            )
            let built = OrderAPIApplication.buildRouter(postgres: context.postgres, claims: claims, redis: context.redis,
                                                        settings: settings, logger: context.logger)
            return (built.router, [claims] + built.services)
        }
    }
}
