import Foundation

/// A merchant-visible event (`object: "event"`), also the payload of its outbox row and
/// Kafka message (DESIGN.md "Kafka topics": the envelope `{id, type, version, occurred_at,
/// merchant_id, data}`).
public struct Event: Sendable, Equatable {
    public var id: UUID
    public var merchantID: UUID
    public var orderID: UUID?
    public var type: EventType
    public var order: Order
    public var createdAt: Date

    public init(id: UUID, merchantID: UUID, orderID: UUID?, type: EventType, order: Order, createdAt: Date) {
        self.id = id
        self.merchantID = merchantID
        self.orderID = orderID
        self.type = type
        self.order = order
        self.createdAt = createdAt
    }

    /// `data` of the event: the object as it was when the event happened.
    public struct Payload: Encodable, Sendable {
        public var object: Order
    }

    /// The Kafka message value the relay publishes.
    public struct Envelope: Encodable, Sendable {
        public var id: String
        public var type: String
        public var version: Int
        public var occurredAt: String
        public var merchantID: String
        public var data: Payload

        enum CodingKeys: String, CodingKey {
            case id, type, version, occurredAt = "occurred_at", merchantID = "merchant_id", data
        }
    }

    public var payload: Payload { Payload(object: order) }

    public var envelope: Envelope {
        Envelope(id: id.lowercased, type: type.rawValue, version: 1,
                 occurredAt: Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(createdAt),
                 merchantID: merchantID.lowercased, data: payload)
    }
}

extension Event: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, object, type, created, orderID = "order_id", data
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.lowercased, forKey: .id)
        try container.encode("event", forKey: .object)
        try container.encode(type, forKey: .type)
        try container.encode(Int64(createdAt.timeIntervalSince1970.rounded(.down)), forKey: .created)
        try container.encode(orderID?.lowercased, forKey: .orderID)
        try container.encode(payload, forKey: .data)
    }
}
