import Foundation
import Hummingbird
import SettleDomain
import SettleRedis
import SettleRuntime
import SettleStorage

/// `/v1/api-keys`: the authenticated merchant's keys (id, the `sk_` prefix and last four
/// characters, created, expires, revoked, last used; never a key itself), rolling the key the
/// request is made with, and revoking any of the merchant's keys. Another merchant's key is 404.
///
/// A change is published to every API process (`APIKeyRevocations`) once it has committed, and
/// this process forgets the key at once. A roll's answer carries the new key once: its stored
/// replay (for a retry with the same `Idempotency-Key`) does not, so no key is ever kept in
/// the clear.
struct APIKeyController: Sendable {
    let keys: APIKeyStore
    let cache: APIKeyCache
    let redis: RedisClient?
    let idempotency: IdempotentRequest

    func addRoutes(to group: RouterGroup<APIRequestContext>, prefix: String, table: RouteTable) {
        table.add(.get, "api-keys", to: group, prefix: prefix, use: list)
        table.add(.post, "api-keys/roll", to: group, prefix: prefix, use: roll)
        table.add(.post, "api-keys/:id/revoke", to: group, prefix: prefix, use: revoke)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let records = try await keys.list(merchant: merchant.id)
        return try JSONResponse.make(.ok, encoding: ListBody(data: records.map(APIKeyObject.init), hasMore: false, url: "/v1/api-keys"))
    }

    @Sendable func roll(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let idempotencyKey = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.read(request, context: context)
        let roll: APIKeyRoll
        do { roll = try APIKeyRoll(json: body.value) } catch { throw APIProblem.validation(error) }
        let keys = self.keys
        return try await idempotency.run(key: idempotencyKey, merchant: merchant.id, method: "POST", path: "/v1/api-keys/roll",
                                         requestHash: body.canonicalHash) { claim in
            // The stored answer leaves the new key out. Once the roll is sent, a slow database is
            // waited for (then 503 outcome_unknown), never answered "nothing happened".
            let outcome = try await keys.roll(merchant: merchant.id, scope: .key(merchant.keyID), overlap: roll.overlap, claim: claim, answer: {
                Self.rollAnswer($0, limit: keys.liveLimit, showingKey: false)
            })
            if case .rolled(let rolled) = outcome { await changed(rolled.expiringHashes) }
            let answer = Self.rollAnswer(outcome, limit: keys.liveLimit, showingKey: true)
            return JSONResponse.make(HTTPResponse.Status(code: answer.status), answer.body)
        }
    }

    static func rollAnswer(_ outcome: APIKeyStore.RollOutcome, limit: Int, showingKey: Bool) -> (status: Int, body: [UInt8]) {
        switch outcome {
        case .rolled(let rolled):
            return (201, SettleJSON.bytes(NewAPIKeyObject(rolled.record, secret: showingKey ? rolled.key : nil)))
        case .notFound:
            // The key making the request expired or was revoked since it was authenticated.
            return (401, APIProblem.unauthorized("Invalid API key provided.").body)
        case .limitReached:
            let problem = APIProblem(.conflict, code: "api_key_limit_reached",
                                     detail: "A merchant can have at most \(limit) keys that are neither revoked nor expired; revoke one first.")
            return (409, problem.body)
        }
    }

    @Sendable func revoke(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let idempotencyKey = try IdempotencyKeyHeader.read(request)
        let body = try await JSONRequestBody.readNoParameters(request, context: context)
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else { throw APIProblem.notFound("API key", text) }
        let answer: APIKeyStore.RevokeAnswer = { record in
            guard let record else { return (404, APIProblem.notFound("API key", text).body) }
            return (200, SettleJSON.bytes(APIKeyObject(record)))
        }
        let keys = self.keys
        return try await idempotency.run(key: idempotencyKey, merchant: merchant.id, method: "POST",
                                         path: "/v1/api-keys/\(id.lowercased)/revoke", requestHash: body.canonicalHash) { claim in
            let revoked = try await keys.revoke(id: id, merchant: merchant.id, claim: claim, answer: answer)
            if let revoked { await changed([revoked.hash]) }
            let (status, bytes) = answer(revoked?.record)
            return JSONResponse.make(HTTPResponse.Status(code: status), bytes)
        }
    }

    /// Tells every API process that these keys changed; this one forgets them at once.
    private func changed(_ hashes: [[UInt8]]) async {
        for hash in hashes { cache.forget(hash) }
        await APIKeyRevocations.publish(hashes, redis: redis)
    }
}
