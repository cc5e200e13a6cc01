/// Which shards a relay should hold: an even share of all shards among the live relays
/// (rounded up, so together they cover every shard), taking free shards up to the share and
/// giving back what is above it so a relay that joins gets work.
struct ShardPlan: Equatable, Sendable {
    var release: [Int]
    var wanted: Int

    static func make(owned: Set<Int>, liveRelays: Int, shardCount: Int) -> ShardPlan {
        let share = (shardCount + max(1, liveRelays) - 1) / max(1, liveRelays)
        let excess = max(0, owned.count - share)
        // Give back the highest-numbered shards first, so hand-overs are predictable.
        return ShardPlan(release: Array(owned.sorted().suffix(excess)), wanted: max(0, share - owned.count))
    }
}
