import Foundation
import Hummingbird
import SettleDomain
import SettleStorage
import Synchronization

/// `Authorization: Bearer sk_…` on every `/v1` route. A key's merchant is remembered for a
/// minute, so authentication costs no query per request; a revoked key stops working within that.
struct Authenticator: RouterMiddleware {
    typealias Context = APIRequestContext

    let merchants: MerchantStore
    let cache = KeyCache()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIProblem.unauthorized("No API key provided. Send it as 'Authorization: Bearer sk_…'.")
        }
        guard header.hasPrefix("Bearer "), case let key = header.dropFirst("Bearer ".count), key.hasPrefix(APIKey.prefix) else {
            throw APIProblem.unauthorized("The Authorization header must be 'Bearer sk_…'.")
        }
        let hash = APIKey.hash(String(key))
        let merchant: UUID
        if let cached = cache.merchant(for: hash) {
            merchant = cached
        } else {
            let merchants = self.merchants
            guard let found = try await DatabaseUnavailable.guarding({ try await merchants.merchant(keyHash: hash) }) else {
                throw APIProblem.unauthorized("Invalid API key provided.")
            }
            cache.remember(hash, merchant: found)
            merchant = found
        }
        var context = context
        context.merchant = AuthenticatedMerchant(id: merchant, keyHash: hash)
        context.logger[metadataKey: "merchant_id"] = "\(merchant.lowercased)"
        return try await next(request, context)
    }

    /// Key hash → merchant, for a minute, at most 10,000 keys.
    final class KeyCache: Sendable {
        private let entries = Mutex<[[UInt8]: (merchant: UUID, until: ContinuousClock.Instant)]>([:])
        private let lifetime = Duration.seconds(60)

        func merchant(for hash: [UInt8]) -> UUID? {
            entries.withLock { entries in
                guard let entry = entries[hash], entry.until > .now else { return nil }
                return entry.merchant
            }
        }

        func remember(_ hash: [UInt8], merchant: UUID) {
            entries.withLock { entries in
                if entries.count >= 10_000 { entries.removeAll(keepingCapacity: true) }
                entries[hash] = (merchant, .now + lifetime)
            }
        }
    }
}
