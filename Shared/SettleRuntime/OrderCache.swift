import Foundation
import Logging
import Metrics
import SettleDomain
import SettleRedis

/// Cache-aside for `GET /v1/orders/{id}`: the order's JSON in Redis, tagged with its version.
///
/// A reader that missed stores what it read with `store`, and so does every writer after its
/// change committed, before it answers. The Lua script never replaces a newer version with an
/// older one, so a slow reader that read the row before a change cannot put the old state back
/// after the writer stored the new one: once a change's response was sent, no read returns
/// the state before it. Redis errors are misses, never failures. The API and the payment worker
/// (after it records an outcome) store through it, so a state change is never hidden behind a
/// cached older one.
public struct OrderCache: Sendable {
    let redis: RedisClient?
    let lifetime: Duration
    let logger: Logger

    public init(redis: RedisClient?, lifetime: Duration, logger: Logger) {
        self.redis = redis
        self.lifetime = lifetime
        self.logger = logger
    }

    static let storeScript = RedisScript("""
        local current = redis.call('GET', KEYS[1])
        if current then
            local version = tonumber(string.match(current, '^(%d+)|'))
            if version and version >= tonumber(ARGV[1]) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
        return 1
        """)

    private static func requests(_ result: String) -> Counter {
        Counter(label: "settle_api_cache_requests_total", dimensions: [("result", result)])
    }
    private static let hits = requests("hit")
    private static let misses = requests("miss")
    private static let errors = requests("error")

    public static func key(merchant: UUID, order: UUID) -> String {
        "settle:order:\(merchant.lowercased):\(order.lowercased)"
    }

    /// The cached JSON of an order, or nil on a miss (or when Redis cannot answer).
    public func json(merchant: UUID, order: UUID) async -> [UInt8]? {
        guard let redis else { return nil }
        do {
            guard let value = try await redis.get(Self.key(merchant: merchant, order: order)),
                  let separator = value.firstIndex(of: UInt8(ascii: "|")) else {
                Self.misses.increment()
                return nil
            }
            Self.hits.increment()
            return Array(value[(separator + 1)...])
        } catch {
            Self.errors.increment()
            return nil
        }
    }

    /// Stores an order's JSON unless the cache already holds the same or a newer version.
    public func store(_ order: Order, json: [UInt8]) async {
        guard let redis else { return }
        let milliseconds = lifetime.components.seconds * 1000
        do {
            _ = try await redis.evaluate(Self.storeScript, keys: [Self.key(merchant: order.merchantID, order: order.id)],
                                         arguments: [String(order.version), String(decoding: json, as: UTF8.self), String(milliseconds)])
        } catch {
            // A writer that cannot store its new version deletes the old one; if Redis is down
            // altogether the entry is unreachable, and it expires within `lifetime`.
            _ = try? await redis.delete([Self.key(merchant: order.merchantID, order: order.id)])
            logger.warning("order cache store failed", metadata: ["order_id": "\(order.id.lowercased)", "error": "\(error)"])
        }
    }
}
