import Foundation
import Hummingbird
import SettleDomain
import SettleStorage

/// `GET /v1/webhook-endpoints/{id}/deliveries` (each delivery with its attempts: time, status
/// code, latency, the first 4 KiB of the answer) and `POST /v1/webhook-deliveries/{id}/retry`
/// (one more attempt, due now). Merchant-scoped: another merchant's ids are 404.
struct WebhookDeliveryController: Sendable {
    let deliveries: WebhookDeliveryStore
    let idempotency: IdempotentRequest

    enum Status: String, CaseIterable {
        case pending, succeeded, dead
    }

    func addRoutes(to group: RouterGroup<APIRequestContext>, prefix: String, table: RouteTable) {
        table.add(.get, "webhook-endpoints/:id/deliveries", to: group, prefix: prefix, use: list)
        table.add(.post, "webhook-deliveries/:id/retry", to: group, prefix: prefix, use: retry)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let query = try ListQuery.read(request, filters: ["status"])
        let status = try query.filter("status", as: Status.self)?.rawValue
        let text = context.parameters.get("id") ?? ""
        guard let endpoint = UUID(uuidString: text) else { throw APIProblem.notFound("webhook endpoint", text) }
        guard let page = try await deliveries.list(endpoint: endpoint, merchant: merchant.id, status: status, page: query.page) else {
            throw APIProblem.notFound("webhook endpoint", text)
        }
        return try JSONResponse.make(.ok, encoding: ListBody(data: page.items.map(WebhookDeliveryObject.init), hasMore: page.hasMore,
                                                             url: "/v1/webhook-endpoints/\(endpoint.lowercased)/deliveries"))
    }

    @Sendable func retry(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.readNoParameters(request, context: context)
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else { throw APIProblem.notFound("webhook delivery", text) }
        let deliveries = self.deliveries
        return try await idempotency.run(key: key, merchant: merchant.id, method: "POST", path: "/v1/webhook-deliveries/\(id.lowercased)/retry",
                                         requestHash: body.canonicalHash) { claim in
            let outcome = try await deliveries.retry(id, merchant: merchant.id, claim: claim) { Self.answer($0, id: text) }
            let (status, bytes) = Self.answer(outcome, id: text)
            return JSONResponse.make(HTTPResponse.Status(code: status), bytes)
        }
    }

    static func answer(_ outcome: WebhookDeliveryStore.RetryOutcome, id: String) -> (status: Int, body: [UInt8]) {
        switch outcome {
        case .scheduled(let delivery):
            return (200, SettleJSON.bytes(WebhookDeliveryObject(delivery)))
        case .notFound:
            return (404, APIProblem.notFound("webhook delivery", id).body)
        case .inFlight:
            return (409, APIProblem(.conflict, code: "delivery_in_flight",
                                    detail: "An attempt of this delivery is being made right now; retry when it has ended.",
                                    headers: [.retryAfter: "15"]).body)
        case .endpointDisabled:
            return (409, APIProblem(.conflict, code: "endpoint_disabled",
                                    detail: "The delivery's endpoint is disabled; enable it first, then retry.").body)
        }
    }
}

/// A delivery as the API shows it.
struct WebhookDeliveryObject: Encodable, Sendable {
    struct AttemptObject: Encodable, Sendable {
        var attempt: Int
        var attemptedAt: Double
        var statusCode: Int?
        var latencyMs: Int
        var responseBody: String?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case attempt, attemptedAt = "attempted_at", statusCode = "status_code", latencyMs = "latency_ms", responseBody = "response_body", error
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(attempt, forKey: .attempt)
            try container.encode(attemptedAt, forKey: .attemptedAt)
            try container.encode(statusCode, forKey: .statusCode)
            try container.encode(latencyMs, forKey: .latencyMs)
            try container.encode(responseBody, forKey: .responseBody)
            try container.encode(error, forKey: .error)
        }
    }

    var id: String
    var endpointID: String
    var eventID: String
    var eventType: String
    var status: String
    var nextAttemptAt: Int64?
    var created: Int64
    var deliveredAt: Int64?
    var attempts: [AttemptObject]

    init(_ delivery: WebhookDelivery) {
        id = delivery.id.lowercased
        endpointID = delivery.endpointID.lowercased
        eventID = delivery.eventID.lowercased
        eventType = delivery.eventType
        status = delivery.status
        nextAttemptAt = delivery.nextAttemptAt.map { Int64($0.timeIntervalSince1970.rounded(.up)) }
        created = Int64(delivery.createdAt.timeIntervalSince1970.rounded(.down))
        deliveredAt = delivery.deliveredAt.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
        attempts = delivery.attempts.map {
            AttemptObject(attempt: $0.number, attemptedAt: ($0.at.timeIntervalSince1970 * 1000).rounded() / 1000, statusCode: $0.statusCode,
                          latencyMs: $0.latencyMilliseconds, responseBody: $0.responseBody, error: $0.error)
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, object, endpointID = "endpoint_id", eventID = "event_id", eventType = "event_type", status,
             nextAttemptAt = "next_attempt_at", created, deliveredAt = "delivered_at", attempts
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode("webhook_delivery", forKey: .object)
        try container.encode(endpointID, forKey: .endpointID)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(eventType, forKey: .eventType)
        try container.encode(status, forKey: .status)
        try container.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try container.encode(created, forKey: .created)
        try container.encode(deliveredAt, forKey: .deliveredAt)
        try container.encode(attempts, forKey: .attempts)
    }
}
