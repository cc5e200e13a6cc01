import Foundation

/// A merchant-visible event (`object: "event"`). Its outbox row and Kafka message carry the
/// envelope `{id, type, version, occurred_at, merchant_id, data}` (DESIGN.md "Kafka topics"),
/// which the database builds from the event row (`settle_event_envelope`).
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

    public var payload: Payload { Payload(object: order) }
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
