import Hummingbird
import SettleDomain
import SettleStorage

/// `GET /v1/api-keys`: the authenticated merchant's keys (id, the `sk_` prefix and last four
/// characters, created, expires, revoked, last used), never a key itself.
struct APIKeyController: Sendable {
    let merchants: MerchantStore

    func addRoutes(to group: RouterGroup<APIRequestContext>, prefix: String, table: RouteTable) {
        table.add(.get, "api-keys", to: group, prefix: prefix, use: list)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let merchants = self.merchants
        let keys = try await DatabaseUnavailable.guarding { try await merchants.keys(merchant: merchant.id) }
        return try JSONResponse.make(.ok, encoding: ListBody(data: keys.map(APIKeyObject.init), hasMore: false, url: "/v1/api-keys"))
    }
}
