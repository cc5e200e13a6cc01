import Foundation
import SettleStorage
import Testing

@Suite("Outbox relay rounds")
struct RoundPrefixTests {
    static func row(_ id: Int64, shard: Int, key: String) -> OutboxRow {
        OutboxRow(id: id, xactID: 1, shard: shard, eventID: UUID(), topic: "orders.v1", key: key, payload: "{}", headers: [:],
                  createdAt: Date(timeIntervalSince1970: 0))
    }

    @Test("A round sends at most one row per key: each shard stops at its first repeated key, other shards go on")
    func oneRowPerKey() {
        let rows = [
            Self.row(1, shard: 3, key: "a"), Self.row(2, shard: 3, key: "b"), Self.row(4, shard: 3, key: "a"),
            Self.row(5, shard: 3, key: "c"),
            Self.row(3, shard: 7, key: "x"), Self.row(6, shard: 7, key: "y"), Self.row(8, shard: 7, key: "z"),
        ]
        // Row 5 (key c) comes after the cut at row 4: sending it would leave a hole in the
        // shard's acknowledged prefix.
        #expect(OutboxRow.oneRoundPrefix(rows).map(\.id) == [1, 2, 3, 6, 8])
        #expect(OutboxRow.oneRoundPrefix([]).isEmpty)
        #expect(OutboxRow.oneRoundPrefix([Self.row(9, shard: 0, key: "a"), Self.row(10, shard: 0, key: "a")]).map(\.id) == [9])
    }
}
