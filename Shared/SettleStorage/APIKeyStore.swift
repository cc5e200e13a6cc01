import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// A merchant's API keys after the first: look-up for authentication, listing, rolling and
/// revoking (each change commits with its `key.rolled` / `key.revoked` event and, for an API
/// request, its `Idempotency-Key` answer), and when each was last used. Only a key's SHA-256 is
/// stored; a new key is returned once, by `roll`.
public struct APIKeyStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// How many keys a merchant may have that are neither revoked nor expired.
    public let liveLimit: Int
    /// Longest a call may take, lease included; past it the call fails with `DatabaseUnavailable`
    /// and its connection is closed (`PostgresClient.withConnection(deadline:)`).
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, liveLimit: Int = 10, statementDeadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.liveLimit = liveLimit
        self.statementDeadline = statementDeadline
    }

    /// What authentication needs of a key, whatever its state.
    public struct Credential: Sendable, Equatable {
        public var merchant: UUID
        public var keyID: UUID
        public var expiresAt: Date?
        public var revokedAt: Date?

        /// Why the key cannot be used at `now`, or nil when it can.
        public func refusal(at now: Date) -> Refusal? {
            if revokedAt != nil { return .revoked }
            if let expiresAt, expiresAt <= now { return .expired }
            return nil
        }
    }

    public enum Refusal: String, Sendable {
        case revoked, expired
    }

    /// The key with this SHA-256, revoked and expired ones included (the caller tells them apart
    /// only in its metrics: every refusal answers the client alike).
    public func credential(keyHash: [UInt8]) async throws -> Credential? {
        let hash = ByteBuffer(bytes: keyHash)
        return try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            for try await (merchant, id, expires, revoked) in try await connection.query("""
                SELECT merchant_id, id, expires_at, revoked_at FROM api_keys WHERE key_hash = \(hash)
                """, logger: logger).decode((UUID, UUID, Date?, Date?).self) {
                return Credential(merchant: merchant, keyID: id, expiresAt: expires, revokedAt: revoked)
            }
            return nil
        }
    }

    /// The merchant's API keys, newest first (at most 100: keys are few).
    public func list(merchant: UUID) async throws -> [APIKeyRecord] {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await Self.records(try await connection.query("""
                SELECT \(unescaped: Self.selectList) FROM api_keys
                WHERE merchant_id = \(merchant) ORDER BY created_at DESC, id DESC LIMIT 100
                """, logger: logger))
        }
    }

    /// Which keys a roll expires: the one that asked (an API request) or, from an operator, one
    /// named key or every live key of the merchant.
    public enum RollScope: Sendable, Equatable {
        case key(UUID)
        case everyLiveKey
    }

    /// A roll's result: the new key (its only appearance) and the keys it set to expire.
    public struct Rolled: Sendable {
        public var key: String
        public var record: APIKeyRecord
        public var expiring: [APIKeyRecord]
        /// The SHA-256s of the expiring keys: every API process must forget what it remembers of them.
        public var expiringHashes: [[UInt8]]
    }

    public enum RollOutcome: Sendable {
        case rolled(Rolled)
        /// The named key is not the merchant's, or is revoked or expired.
        case notFound
        case limitReached
    }

    public typealias RollAnswer = @Sendable (RollOutcome) -> (status: Int, body: [UInt8])

    /// Makes a new key and sets the scope's live keys to expire `overlap` from now (at once for
    /// zero; a key already expiring sooner keeps its time). Commits a `key.rolled` event.
    ///
    /// The change is sent only if the deadline has not passed; once it has been sent, the caller
    /// waits for its outcome (then `OutcomeUnknown`) instead of being told nothing happened.
    public func roll(merchant: UUID, scope: RollScope, overlap: Duration, claim: IdempotencyClaim?,
                     answer: RollAnswer? = nil) async throws -> RollOutcome {
        let key = APIKey.generate()
        let hash = ByteBuffer(bytes: APIKey.hash(key))
        let liveLimit = self.liveLimit
        return try await client.withTransaction(deadline: statementDeadline, waitOnceSent: true, logger: logger) { [logger] connection in
            // One roll at a time per merchant, so the limit holds (NO KEY: orders being created for
            // the merchant, whose foreign keys share-lock its row, do not wait for it).
            try await connection.query("SELECT 1 FROM merchants WHERE id = \(merchant) FOR NO KEY UPDATE", logger: logger)
            let only: UUID? = if case .key(let id) = scope { id } else { nil }
            let live = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
            var inScope = 0
            var liveKeys = 0
            for try await (total, scoped) in try await connection.query("""
                SELECT count(*)::int, (count(*) FILTER (WHERE \(only)::uuid IS NULL OR id = \(only)))::int
                FROM api_keys WHERE merchant_id = \(merchant) AND \(unescaped: live)
                """, logger: logger).decode((Int, Int).self) { (liveKeys, inScope) = (total, scoped) }
            let outcome: RollOutcome
            if only != nil, inScope == 0 {
                outcome = .notFound
            } else if liveKeys - (overlap == .zero ? inScope : 0) >= liveLimit {
                outcome = .limitReached
            } else {
                let expired = try await connection.query("""
                    UPDATE api_keys
                    SET expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => \(overlap.seconds)))
                    WHERE merchant_id = \(merchant) AND \(unescaped: live) AND (\(only)::uuid IS NULL OR id = \(only))
                    RETURNING \(unescaped: Self.selectList), key_hash
                    """, logger: logger)
                let changed = try await Self.recordsWithHashes(expired)
                let expiring = changed.map(\.record)
                let hashes = changed.map(\.hash)
                let rows = try await connection.query("""
                    INSERT INTO api_keys (id, key_hash, merchant_id, last4) VALUES (\(UUIDv7.make()), \(hash), \(merchant), \(String(key.suffix(4))))
                    RETURNING \(unescaped: Self.selectList)
                    """, logger: logger)
                guard let record = try await Self.records(rows).first else { throw CorruptRow(table: "api_keys", detail: "INSERT … RETURNING gave no row") }
                struct Payload: Encodable { var object: APIKeyObject; var expiring: [APIKeyObject] }
                try await EventWriter.insert(
                    id: UUIDv7.make(), merchantID: merchant, orderID: nil, type: .keyRolled,
                    data: try SettleJSON.encode(Payload(object: APIKeyObject(record), expiring: expiring.map(APIKeyObject.init))),
                    createdAt: record.createdAt, on: connection, logger: logger)
                outcome = .rolled(Rolled(key: key, record: record, expiring: expiring, expiringHashes: hashes))
            }
            if let claim, let answer {
                let (status, body) = answer(outcome)
                try await claim.complete(status: status, body: body, on: connection, logger: logger)
            }
            return outcome
        }
    }

    public typealias RevokeAnswer = @Sendable (APIKeyRecord?) -> (status: Int, body: [UInt8])

    /// Revokes one of the merchant's keys (nil when it has none with that id). Revoking a revoked
    /// key changes nothing and records no second event. Returns the key and its SHA-256. Sent
    /// only within the deadline, and then waited for, as a roll is.
    public func revoke(id: UUID, merchant: UUID, claim: IdempotencyClaim?,
                       answer: RevokeAnswer? = nil) async throws -> (record: APIKeyRecord, hash: [UInt8])? {
        try await client.withTransaction(deadline: statementDeadline, waitOnceSent: true, logger: logger) { [logger] connection in
            var found = try await Self.recordsWithHashes(try await connection.query("""
                SELECT \(unescaped: Self.selectList), key_hash FROM api_keys WHERE id = \(id) AND merchant_id = \(merchant) FOR UPDATE
                """, logger: logger)).first
            if case (var record, let hash)? = found, record.revokedAt == nil {
                let rows = try await connection.query("""
                    UPDATE api_keys SET revoked_at = now() WHERE id = \(id) RETURNING \(unescaped: Self.selectList)
                    """, logger: logger)
                record = try await Self.records(rows).first ?? record
                struct Payload: Encodable { var object: APIKeyObject }
                try await EventWriter.insert(id: UUIDv7.make(), merchantID: merchant, orderID: nil, type: .keyRevoked,
                                             data: try SettleJSON.encode(Payload(object: APIKeyObject(record))),
                                             createdAt: record.revokedAt ?? Date(), on: connection, logger: logger)
                found = (record, hash)
            }
            if let claim, let answer {
                let (status, body) = answer(found?.record)
                try await claim.complete(status: status, body: body, on: connection, logger: logger)
            }
            return found
        }
    }

    /// Records when keys were used: a key's `last_used_at` is written at most once a minute,
    /// however many processes report it.
    public func recordUse(_ uses: [(hash: [UInt8], at: Date)]) async throws {
        guard !uses.isEmpty else { return }
        let hashes = uses.map { ByteBuffer(bytes: $0.hash) }
        let times = uses.map(\.at)
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            _ = try await connection.query("""
                UPDATE api_keys AS k SET last_used_at = u.at
                FROM unnest(\(hashes)::bytea[], \(times)::timestamptz[]) AS u(hash, at)
                WHERE k.key_hash = u.hash AND (k.last_used_at IS NULL OR k.last_used_at < u.at - interval '1 minute')
                """, logger: logger)
        }
    }

    static let selectList = "id, last4, created_at, expires_at, revoked_at, last_used_at"

    private static func records(_ rows: PostgresRowSequence) async throws -> [APIKeyRecord] {
        var records: [APIKeyRecord] = []
        for try await (id, last4, created, expires, revoked, lastUsed) in rows.decode((UUID, String?, Date, Date?, Date?, Date?).self) {
            records.append(APIKeyRecord(id: id, last4: last4, createdAt: created, expiresAt: expires, revokedAt: revoked, lastUsedAt: lastUsed))
        }
        return records
    }

    /// Rows of `selectList` followed by `key_hash`.
    private static func recordsWithHashes(_ rows: PostgresRowSequence) async throws -> [(record: APIKeyRecord, hash: [UInt8])] {
        var records: [(record: APIKeyRecord, hash: [UInt8])] = []
        for try await (id, last4, created, expires, revoked, lastUsed, keyHash) in rows.decode((UUID, String?, Date, Date?, Date?, Date?, ByteBuffer).self) {
            records.append((APIKeyRecord(id: id, last4: last4, createdAt: created, expiresAt: expires, revokedAt: revoked, lastUsedAt: lastUsed),
                            Array(buffer: keyHash)))
        }
        return records
    }
}
