import Foundation
import Hummingbird
import SettleDomain
import SettleRuntime
import SettleStorage

/// `/v1/webhook-endpoints`: create (the secret shown once), get, list, delete, enable, disable
/// and rotate the secret. Merchant-scoped: another merchant's endpoint is 404. A URL must lead
/// where webhooks may go (`WebhookDestination`) when it is created; the dispatcher checks again
/// before each connection.
struct WebhookEndpointController: Sendable {
    let endpoints: WebhookEndpointStore
    let destination: WebhookDestination
    let idempotency: IdempotentRequest
    /// How long a rotated-out secret keeps signing beside the new one.
    static let rotationOverlap: Duration = .seconds(24 * 3600)

    func addRoutes(to group: RouterGroup<APIRequestContext>, prefix: String, table: RouteTable) {
        table.add(.post, "webhook-endpoints", to: group, prefix: prefix, use: create)
        table.add(.get, "webhook-endpoints", to: group, prefix: prefix, use: list)
        table.add(.get, "webhook-endpoints/:id", to: group, prefix: prefix, use: get)
        table.add(.delete, "webhook-endpoints/:id", to: group, prefix: prefix, use: delete)
        table.add(.post, "webhook-endpoints/:id/enable", to: group, prefix: prefix) { try await setEnabled(true, $0, $1) }
        table.add(.post, "webhook-endpoints/:id/disable", to: group, prefix: prefix) { try await setEnabled(false, $0, $1) }
        table.add(.post, "webhook-endpoints/:id/rotate-secret", to: group, prefix: prefix, use: rotateSecret)
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.read(request, context: context)
        let new: NewWebhookEndpoint
        do { new = try NewWebhookEndpoint(json: body.value) } catch { throw APIProblem.validation(error) }
        do {
            _ = try await destination.check(new.url)
        } catch {
            throw APIProblem(.badRequest, code: error.code, detail: error.message, param: "url")
        }
        let endpoints = self.endpoints
        return try await idempotency.run(key: key, merchant: merchant.id, method: "POST", path: "/v1/webhook-endpoints",
                                         requestHash: body.canonicalHash) { claim in
            let secret = WebhookSecret.generate()
            let outcome = try await endpoints.create(merchant: merchant.id, new, secret: secret, claim: claim) {
                Self.createAnswer($0, secret: secret, limit: endpoints.limit)
            }
            let answer = Self.createAnswer(outcome, secret: secret, limit: endpoints.limit)
            return JSONResponse.make(HTTPResponse.Status(code: answer.status), answer.body)
        }
    }

    static func createAnswer(_ outcome: WebhookEndpointStore.CreateOutcome, secret: String, limit: Int) -> (status: Int, body: [UInt8]) {
        switch outcome {
        case .created(let endpoint):
            return (201, SettleJSON.bytes(WebhookEndpointObject(endpoint, secret: secret)))
        case .limitReached:
            let problem = APIProblem(.conflict, code: "endpoint_limit_reached",
                                     detail: "A merchant can have at most \(limit) webhook endpoints; delete one first.")
            return (409, problem.body)
        }
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let (id, text) = try Self.id(context)
        guard let endpoint = try await endpoints.find(id, merchant: merchant.id) else {
            throw APIProblem.notFound("webhook endpoint", text)
        }
        return try JSONResponse.make(.ok, encoding: WebhookEndpointObject(endpoint))
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let query = try ListQuery.read(request, filters: [])
        let page = try await endpoints.list(merchant: merchant.id, page: query.page)
        return try JSONResponse.make(.ok, encoding: ListBody(data: page.items.map { WebhookEndpointObject($0) }, hasMore: page.hasMore,
                                                             url: "/v1/webhook-endpoints"))
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let (id, text) = try Self.id(context)
        guard try await endpoints.delete(id, merchant: merchant.id) else {
            throw APIProblem.notFound("webhook endpoint", text)
        }
        return try JSONResponse.make(.ok, encoding: DeletedObject(id: id.lowercased))
    }

    func setEnabled(_ enabled: Bool, _ request: Request, _ context: APIRequestContext) async throws -> Response {
        try await change(request, context, action: enabled ? "enable" : "disable") { id, merchant, claim, answer in
            try await endpoints.setEnabled(enabled, id: id, merchant: merchant, claim: claim, response: answer)
        }
    }

    @Sendable func rotateSecret(_ request: Request, context: APIRequestContext) async throws -> Response {
        let secret = WebhookSecret.generate()
        return try await change(request, context, action: "rotate-secret", secret: secret) { id, merchant, claim, answer in
            try await endpoints.rotateSecret(id: id, merchant: merchant, secret: secret, overlap: Self.rotationOverlap, claim: claim, response: answer)
        }
    }

    /// A POST on one endpoint that takes no parameters: run under its key, answer the endpoint
    /// (with `secret` when the change made one) or 404.
    private func change(
        _ request: Request, _ context: APIRequestContext, action: String, secret: String? = nil,
        _ operation: @escaping @Sendable (UUID, UUID, IdempotencyClaim?, @escaping WebhookEndpointStore.Answer) async throws -> WebhookEndpoint?
    ) async throws -> Response {
        let merchant = try context.requireMerchant()
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.readNoParameters(request, context: context)
        let (id, text) = try Self.id(context)
        let answer: WebhookEndpointStore.Answer = { endpoint in
            guard let endpoint else { return (404, APIProblem.notFound("webhook endpoint", text).body) }
            return (200, SettleJSON.bytes(WebhookEndpointObject(endpoint, secret: secret)))
        }
        return try await idempotency.run(key: key, merchant: merchant.id, method: "POST",
                                         path: "/v1/webhook-endpoints/\(id.lowercased)/\(action)", requestHash: body.canonicalHash) { claim in
            let endpoint = try await operation(id, merchant.id, claim, answer)
            let (status, bytes) = answer(endpoint)
            return JSONResponse.make(HTTPResponse.Status(code: status), bytes)
        }
    }

    private static func id(_ context: APIRequestContext) throws -> (UUID, String) {
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else { throw APIProblem.notFound("webhook endpoint", text) }
        return (id, text)
    }
}

/// `{id, object, deleted: true}`, what a DELETE answers.
struct DeletedObject: Encodable, Sendable {
    var id: String
    var object = "webhook_endpoint"
    var deleted = true
}
