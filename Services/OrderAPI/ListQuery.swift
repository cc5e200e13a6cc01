import Foundation
import Hummingbird
import SettleStorage

/// The query of a list route: `limit` (1–100, default 10), `starting_after`, `ending_before`,
/// and the route's own filters; anything else is refused as `parameter_unknown`.
struct ListQuery {
    var page: PageRequest
    var filters: [String: String]

    static func read(_ request: Request, filters allowed: Set<String>) throws -> ListQuery {
        var limit = 10
        var startingAfter: UUID?
        var endingBefore: UUID?
        var filters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters {
            let name = String(name), value = String(value)
            switch name {
            case "limit":
                guard let number = Int(value), (1...100).contains(number) else {
                    throw APIProblem(.badRequest, code: "parameter_invalid", detail: "limit must be an integer from 1 to 100.", param: "limit")
                }
                limit = number
            case "starting_after", "ending_before":
                guard let id = UUID(uuidString: value) else {
                    throw APIProblem(.badRequest, code: "parameter_invalid", detail: "\(name) must be an object id.", param: name)
                }
                if name == "starting_after" { startingAfter = id } else { endingBefore = id }
            case _ where allowed.contains(name):
                filters[name] = value
            default:
                throw APIProblem(.badRequest, code: "parameter_unknown", detail: "Received unknown parameter: \(name.prefix(100)).", param: String(name.prefix(100)))
            }
        }
        if startingAfter != nil, endingBefore != nil {
            throw APIProblem(.badRequest, code: "parameter_invalid", detail: "starting_after and ending_before cannot be used together.",
                             param: "ending_before")
        }
        return ListQuery(page: PageRequest(limit: limit, startingAfter: startingAfter, endingBefore: endingBefore), filters: filters)
    }

    /// The filter `name` as one of an enumeration's values, or nil when absent; any other value is a 400.
    func filter<Value: RawRepresentable & CaseIterable>(_ name: String, as type: Value.Type) throws -> Value? where Value.RawValue == String {
        guard let text = filters[name] else { return nil }
        guard let value = Value(rawValue: text) else {
            let names = Value.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIProblem(.badRequest, code: "parameter_invalid", detail: "\(name) must be one of \(names).", param: name)
        }
        return value
    }
}

/// `{object: "list", data, has_more, url}`, Stripe's list shape.
struct ListBody<Item: Encodable & Sendable>: Encodable, Sendable {
    var data: [Item]
    var hasMore: Bool
    var url: String

    enum CodingKeys: String, CodingKey { case object, data, hasMore = "has_more", url }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("list", forKey: .object)
        try container.encode(data, forKey: .data)
        try container.encode(hasMore, forKey: .hasMore)
        try container.encode(url, forKey: .url)
    }
}
