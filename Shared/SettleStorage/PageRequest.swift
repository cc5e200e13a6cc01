import Foundation

/// A cursor page of a list, newest first (ids are UUIDv7, so id order is creation order).
/// `startingAfter` pages towards older objects, `endingBefore` towards newer ones.
public struct PageRequest: Sendable, Equatable {
    public var limit: Int
    public var startingAfter: UUID?
    public var endingBefore: UUID?

    public init(limit: Int, startingAfter: UUID? = nil, endingBefore: UUID? = nil) {
        self.limit = limit
        self.startingAfter = startingAfter
        self.endingBefore = endingBefore
    }

    /// The newest-first bound for a `WHERE id < cursor` query: after the cursor, or from the top.
    var olderThan: UUID {
        startingAfter ?? UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))
    }
}

/// One page of a list and whether more lie beyond it in the direction of travel.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var hasMore: Bool

    /// Cuts the `limit + 1` rows a page query fetched down to the page, newest first.
    init(fetched: [Item], request: PageRequest) {
        hasMore = fetched.count > request.limit
        let page = Array(fetched.prefix(request.limit))
        items = request.endingBefore == nil ? page : page.reversed()
    }
}
