import Foundation
import Hummingbird
import Logging
import SettleDomain
import SettleRuntime
import SettleStorage

/// `/v1/orders`: create (group-committed, idempotent), get (cache-aside), list (cursor pages)
/// and refund.
struct OrderController: Sendable {
    let ingest: OrderIngest
    let orders: OrderStore
    let idempotency: IdempotentRequest
    let cache: OrderCache

    func addRoutes(to group: RouterGroup<APIRequestContext>, prefix: String, table: RouteTable) {
        table.add(.post, "orders", to: group, prefix: prefix, use: create)
        table.add(.get, "orders", to: group, prefix: prefix, use: list)
        table.add(.get, "orders/:id", to: group, prefix: prefix, use: get)
        table.add(.post, "orders/:id/refund", to: group, prefix: prefix, use: refund)
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.read(request, context: context)
        let new: NewOrder
        do { new = try NewOrder(json: body.value) } catch { throw APIProblem.validation(error) }

        // The key is taken in the order's own transaction (OrderBatchWriter), so a new order
        // costs one round trip; only a key already taken needs a look at what it holds.
        let use = key.map {
            IdempotencyKeyUse(merchant: merchant.id, key: $0, method: OrderBatchWriter.keyMethod, path: OrderBatchWriter.keyPath,
                              requestHash: body.canonicalHash)
        }
        let order = Order(id: UUIDv7.make(), merchantID: merchant.id, new: new, createdAt: Date())
        let json = order.json
        let pending = PendingOrder(order: order, eventID: UUIDv7.make(), idempotencyKey: use, responseBody: json,
                                   traceparent: SettleTracing.traceparent())
        switch (try await ingest.submit(pending), use) {
        case (.committed, _):
            if use != nil { IdempotentRequest.countNewKey() }
            context.logger.info("order created", metadata: ["order_id": "\(order.id.lowercased)", "event_id": "\(pending.eventID.lowercased)"])
            return JSONResponse.make(.created, json)
        case (.keyTaken, let use?):
            return try await idempotency.answerTakenKey(use)
        case (.keyTaken, nil):
            throw OrderIngest.KeylessOrderRefused()
        }
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else { throw APIProblem.notFound("order", text) }
        if let cached = await cache.json(merchant: merchant.id, order: id) {
            return JSONResponse.make(.ok, cached)
        }
        guard let order = try await orders.find(id, merchant: merchant.id) else {
            throw APIProblem.notFound("order", text)
        }
        let json = order.json
        await cache.store(order, json: json)
        return JSONResponse.make(.ok, json)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let query = try ListQuery.read(request, filters: ["status"])
        let status = try query.filter("status", as: OrderStatus.self)
        let page = try await orders.list(merchant: merchant.id, status: status, page: query.page)
        return try JSONResponse.make(.ok, encoding: ListBody(data: page.items, hasMore: page.hasMore, url: "/v1/orders"))
    }

    @Sendable func refund(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let text = context.parameters.get("id") ?? ""
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.readNoParameters(request, context: context)
        guard let id = UUID(uuidString: text) else { throw APIProblem.notFound("order", text) }

        let orders = self.orders
        // Read here: the store runs the transaction in a task of its own.
        let traceparent = SettleTracing.traceparent()
        return try await idempotency.run(key: key, merchant: merchant.id, method: "POST", path: "/v1/orders/\(id.lowercased)/refund",
                                         requestHash: body.canonicalHash) { claim in
            let outcome = try await orders.requestRefund(id, merchant: merchant.id, claim: claim, traceparent: traceparent) { outcome in
                let response = Self.refundAnswer(outcome, id: text)
                return (response.status, response.body)
            }
            let answer = Self.refundAnswer(outcome, id: text)
            if case .requested(let order) = outcome {
                // Before answering: once this response is sent, no read may return the old state.
                await cache.store(order, json: answer.body)
            }
            return JSONResponse.make(HTTPResponse.Status(code: answer.status), answer.body)
        }
    }

    /// What a refund answers, stored under its idempotency key in the same transaction.
    static func refundAnswer(_ outcome: OrderStore.RefundOutcome, id: String) -> (status: Int, body: [UInt8]) {
        switch outcome {
        case .requested(let order):
            return (200, SettleJSON.bytes(order))
        case .notFound:
            return (404, APIProblem.notFound("order", id).body)
        case .notRefundable(let status):
            let problem = APIProblem(.conflict, code: "order_not_refundable",
                                     detail: "Only a succeeded order can be refunded; this order is \(status.rawValue).", param: "id")
            return (409, problem.body)
        }
    }
}
