import Foundation

/// A webhook endpoint as the API shows it and as `webhook_endpoint.disabled` events carry it;
/// `secret` only in the answer that created or rotated it.
public struct WebhookEndpointObject: Encodable, Sendable {
    public var id: String
    public var object = "webhook_endpoint"
    public var url: String
    public var description: String?
    public var enabledEvents: [String]
    public var fifo: Bool
    public var status: String
    public var disabledReason: String?
    public var created: Int64
    public var secret: String?

    public init(_ endpoint: WebhookEndpoint, secret: String? = nil) {
        id = endpoint.id.lowercased
        url = endpoint.url
        description = endpoint.description
        enabledEvents = endpoint.enabledEvents
        fifo = endpoint.fifo
        status = endpoint.enabled ? "enabled" : "disabled"
        disabledReason = endpoint.disabledReason?.rawValue
        created = Int64(endpoint.createdAt.timeIntervalSince1970.rounded(.down))
        self.secret = secret
    }

    enum CodingKeys: String, CodingKey {
        case id, object, url, description, enabledEvents = "enabled_events", fifo, status, disabledReason = "disabled_reason", created, secret
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(object, forKey: .object)
        try container.encode(url, forKey: .url)
        try container.encode(description, forKey: .description)
        try container.encode(enabledEvents, forKey: .enabledEvents)
        try container.encode(fifo, forKey: .fifo)
        try container.encode(status, forKey: .status)
        try container.encode(disabledReason, forKey: .disabledReason)
        try container.encode(created, forKey: .created)
        try container.encodeIfPresent(secret, forKey: .secret)
    }
}
