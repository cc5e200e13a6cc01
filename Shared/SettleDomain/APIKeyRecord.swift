import Foundation

/// A merchant's API key as stored and shown: never the key itself, which is shown once.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: UUID
    /// The key's last four characters; nil for a key made before they were kept.
    public var last4: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?

    public init(id: UUID, last4: String?, createdAt: Date, expiresAt: Date?, revokedAt: Date?, lastUsedAt: Date?) {
        self.id = id
        self.last4 = last4
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// An API key as `GET /v1/api-keys` shows it: `{id, object: "api_key", prefix, last4, created,
/// expires, revoked, last_used}`, times in Unix seconds or null.
public struct APIKeyObject: Encodable, Sendable {
    public var record: APIKeyRecord

    public init(_ record: APIKeyRecord) {
        self.record = record
    }

    enum CodingKeys: String, CodingKey {
        case id, object, prefix, last4, created, expires, revoked, lastUsed = "last_used"
    }

    public func encode(to encoder: any Encoder) throws {
        func seconds(_ date: Date?) -> Int64? { date.map { Int64($0.timeIntervalSince1970.rounded(.down)) } }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.id.lowercased, forKey: .id)
        try container.encode("api_key", forKey: .object)
        try container.encode(APIKey.prefix, forKey: .prefix)
        try container.encode(record.last4, forKey: .last4)
        try container.encode(seconds(record.createdAt), forKey: .created)
        try container.encode(seconds(record.expiresAt), forKey: .expires)
        try container.encode(seconds(record.revokedAt), forKey: .revoked)
        try container.encode(seconds(record.lastUsedAt), forKey: .lastUsed)
    }
}

/// `POST /v1/api-keys/roll`'s body: `{expire_current_in_seconds}`, how long the key making the
/// request keeps working beside the new one (0, the default, ends it at once; at most 7 days).
public struct APIKeyRoll: Sendable, Equatable {
    public static let maxOverlapSeconds: Int64 = 7 * 24 * 3600
    public var overlap: Duration

    public init(overlap: Duration) {
        self.overlap = overlap
    }

    public init(json: JSONValue) throws(ValidationFailure) {
        guard case .object(let fields) = json else {
            throw ValidationFailure(code: "invalid_body", param: nil, message: "The request body must be a JSON object.")
        }
        if let unknown = fields.keys.sorted().first(where: { $0 != "expire_current_in_seconds" }) { throw .unknown(unknown) }
        switch fields["expire_current_in_seconds"] {
        case nil, .null?:
            overlap = .zero
        case .integer(let seconds)? where (0...Self.maxOverlapSeconds).contains(seconds):
            overlap = .seconds(seconds)
        default:
            throw .invalid("expire_current_in_seconds",
                           "expire_current_in_seconds must be a whole number of seconds from 0 to \(Self.maxOverlapSeconds) (7 days).")
        }
    }
}

/// A key as a roll answers it: the object, with the key itself (`secret`), shown this once.
public struct NewAPIKeyObject: Encodable, Sendable {
    public var object: APIKeyObject
    public var secret: String?

    public init(_ record: APIKeyRecord, secret: String?) {
        object = APIKeyObject(record)
        self.secret = secret
    }

    public func encode(to encoder: any Encoder) throws {
        try object.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encodeIfPresent(secret, forKey: .secret)
    }

    private enum Key: String, CodingKey { case secret }
}
