/// `redis://host:port` split into its parts.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = url.dropFirst("redis://".count)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard let hostPart = parts.first, !hostPart.isEmpty, parts.count <= 2 else { return nil }
        let port = parts.count == 2 ? Int(parts[1]) : 6379
        guard let port, (1...65535).contains(port) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }
}
