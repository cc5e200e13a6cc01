import Foundation
import SettleDomain
import Testing

@Suite("Random ids")
struct RandomPoolTests {
    @Test("Ids drawn from eight threads across many refills of the pool are all distinct, UUIDv7 and W3C-shaped")
    func distinctIds() async throws {
        // 8 × 2,000 × (16 + 24) bytes: about 150 refills of the 4 KiB pool, raced from eight tasks.
        let drawn = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<2_000).flatMap { _ in [UUIDv7.make().uuidString, TraceParent.random()] }
                }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(drawn.count == 32_000)
        #expect(Set(drawn).count == drawn.count, "no id was handed out twice")
        let uuid = UUIDv7.make().uuidString
        #expect(Array(uuid)[14] == "7", "version 7")
        #expect("89AB".contains(Array(uuid)[19]), "variant 10")
        let trace = TraceParent.random()
        #expect(trace.wholeMatch(of: /00-[0-9a-f]{32}-[0-9a-f]{16}-01/) != nil, "\(trace)")
        // A pool that handed out zeros (a failed refill) would repeat: checked above; and the
        // bytes vary within one draw.
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.withUnsafeMutableBytes { RandomPool.fill($0) }
        #expect(Set(bytes).count > 16)
    }
}
