/// A Kafka record header: a name and an optional binary value.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(key: String, value: String) {
        self.init(key: key, value: Array(value.utf8))
    }

    /// The value decoded as UTF-8, when there is one.
    public var stringValue: String? {
        value.map { String(decoding: $0, as: UTF8.self) }
    }
}

extension Array where Element == KafkaHeader {
    /// The first header with this name, decoded as UTF-8.
    public func first(named key: String) -> String? {
        first { $0.key == key }?.stringValue
    }
}
