/// Where a relay is in a shard: the (transaction id, row id) of the last row it published.
/// Rows are read in this order, and only below the snapshot's xmin, so no row can still appear
/// before a position once it has been read (migration 0006).
public struct OutboxPosition: Sendable, Comparable {
    public var xactID: Int64
    public var id: Int64

    public static let start = OutboxPosition(xactID: 0, id: 0)

    public init(xactID: Int64, id: Int64) {
        self.xactID = xactID
        self.id = id
    }

    public static func < (lhs: OutboxPosition, rhs: OutboxPosition) -> Bool {
        (lhs.xactID, lhs.id) < (rhs.xactID, rhs.id)
    }
}
