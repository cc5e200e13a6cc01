import Foundation
import Hummingbird
import SettleDomain
import SettleStorage

/// `GET /v1/events`: the merchant's events, newest first, in cursor pages, optionally of one type.
struct EventController: Sendable {
    let events: EventStore

    func addRoutes(to group: RouterGroup<APIRequestContext>, prefix: String, table: RouteTable) {
        table.add(.get, "events", to: group, prefix: prefix, use: list)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let merchant = try context.requireMerchant()
        let query = try ListQuery.read(request, filters: ["type"])
        let type = try query.filter("type", as: EventType.self)
        let page = try await events.list(merchant: merchant.id, type: type, page: query.page)
        let objects = try page.items.map(EventObject.init)
        return try JSONResponse.make(.ok, encoding: ListBody(data: objects, hasMore: page.hasMore, url: "/v1/events"))
    }
}

/// An event as the API shows it: `{id, object: "event", type, created, order_id, data}`.
struct EventObject: Encodable, Sendable {
    var id: String
    var object = "event"
    var type: String
    var created: Int64
    var orderID: String?
    var data: JSONValue

    init(_ stored: StoredEvent) throws {
        id = stored.id.lowercased
        type = stored.type
        created = Int64(stored.createdAt.timeIntervalSince1970.rounded(.down))
        orderID = stored.orderID?.lowercased
        data = try JSONDecoder().decode(JSONValue.self, from: Data(stored.data.utf8))
    }

    enum CodingKeys: String, CodingKey { case id, object, type, created, orderID = "order_id", data }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(object, forKey: .object)
        try container.encode(type, forKey: .type)
        try container.encode(created, forKey: .created)
        try container.encode(orderID, forKey: .orderID)
        try container.encode(data, forKey: .data)
    }
}
