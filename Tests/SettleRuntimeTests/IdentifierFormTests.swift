import Foundation
import SettleDomain
import Testing

@Suite("Identifier form")
struct IdentifierFormTests {
    @Test("An id's lower-case form is Foundation's uuidString in lower case, for random, zero and all-ones ids")
    func lowercasedMatchesFoundation() {
        let edges = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                     UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)),
                     UUID(uuid: (0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10))]
        for id in edges + (0..<10_000).map({ _ in UUID() }) + (0..<1_000).map({ _ in UUIDv7.make() }) {
            #expect(id.lowercased == id.uuidString.lowercased())
            #expect(id.lowercased.utf8.count == 36)
        }
    }
}
