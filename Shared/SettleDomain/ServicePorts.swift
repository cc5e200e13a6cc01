/// Default loopback ports of the local stack, offsets from `SETTLE_PORT_BASE` (default 7100).
public enum ServicePorts {
    public static let defaultBase = 7100
    public static let postgres = 32
    public static let redis = 79
    public static let api = 80
    public static let processor = 81
    public static let sink = 82
    public static let relay = 83
    public static let secondRelay = 84
    public static let worker = 85
    public static let dispatcher = 86
    public static let secondWorker = 87
    public static let brokerAdmin = 92
    /// Prometheus, when the stack runs with `settle up --observe`.
    public static let prometheus = 98
}
