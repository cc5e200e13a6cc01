import AsyncHTTPClient
import Foundation

/// One answer of the simulator, as the wire carried it: the exact body bytes matter, because
/// replays must repeat them byte for byte.
struct ProcessorReply: Sendable, CustomStringConvertible {
    var status: Int
    var bytes: [UInt8]
    var contentType: String?
    var replayed: Bool

    var text: String { String(decoding: bytes, as: UTF8.self) }

    var description: String { "\(status)\(replayed ? " (replayed)" : "") \(text)" }

    /// The body as a JSON object, nil when it is not one (the poison body).
    var object: [String: any Sendable]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: any Sendable]
    }

    /// `error.code` of an error answer.
    var errorCode: String? {
        (object?["error"] as? [String: any Sendable])?["code"] as? String
    }
}
