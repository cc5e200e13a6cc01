import Foundation

/// A Kafka message's value, `{id, type, version, occurred_at, merchant_id, data}` (DESIGN.md
/// "Kafka topics"), as a consumer reads it: what it needs to find the order the event is about.
/// The order itself is read from the database, which is the truth; `data` is only a snapshot.
public struct EventEnvelope: Sendable, Equatable {
    public var id: UUID
    /// The type as sent; consumers decide what an unknown one means.
    public var type: String
    public var merchantID: UUID
    /// `data.object.id`: the order the event is about.
    public var orderID: UUID

    public init(id: UUID, type: String, merchantID: UUID, orderID: UUID) {
        self.id = id
        self.type = type
        self.merchantID = merchantID
        self.orderID = orderID
    }

    public var eventType: EventType? { EventType(rawValue: type) }

    public struct DecodingFailure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Decodes a message value; throws `DecodingFailure` saying what is wrong with it.
    public static func decode(_ bytes: [UInt8]) throws(DecodingFailure) -> EventEnvelope {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw DecodingFailure(description: "the message is not JSON")
        } catch {
            throw DecodingFailure(description: "the message is not an event envelope: \(Self.describe(error))")
        }
        guard let id = UUID(uuidString: wire.id) else { throw DecodingFailure(description: "id is not a UUID") }
        guard let merchant = UUID(uuidString: wire.merchantID) else { throw DecodingFailure(description: "merchant_id is not a UUID") }
        guard let order = UUID(uuidString: wire.data.object.id) else { throw DecodingFailure(description: "data.object.id is not a UUID") }
        return EventEnvelope(id: id, type: wire.type, merchantID: merchant, orderID: order)
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            return "bad \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "\(error)"
        }
    }

    private struct Wire: Decodable {
        struct Data: Decodable {
            struct Object: Decodable { var id: String }
            var object: Object
        }
        var id: String
        var type: String
        var merchantID: String
        var data: Data

        enum CodingKeys: String, CodingKey {
            case id, type, merchantID = "merchant_id", data
        }
    }
}
