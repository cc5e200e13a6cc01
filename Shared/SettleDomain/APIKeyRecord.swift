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
