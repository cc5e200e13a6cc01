/// A validated `POST /v1/webhook-endpoints` body: `{url, enabled_events, description?, fifo?}`.
public struct NewWebhookEndpoint: Sendable, Equatable {
    public static let maxDescriptionLength = 500

    public var url: WebhookURL
    /// Event types, or `["*"]` for every type an endpoint can receive.
    public var enabledEvents: [String]
    public var description: String?
    /// Deliver this endpoint's events strictly one at a time, in order, retries included.
    public var fifo: Bool

    /// What an endpoint can subscribe to: the events the dispatcher reads (`payments.v1`).
    public static let subscribableEvents: [String] = EventType.allCases.filter { $0.topic == KafkaTopics.payments }.map(\.rawValue)

    public init(json: JSONValue) throws(ValidationFailure) {
        guard case .object(let fields) = json else {
            throw ValidationFailure(code: "invalid_body", param: nil, message: "The request body must be a JSON object.")
        }
        let known: Set<String> = ["url", "enabled_events", "description", "fifo"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw .unknown(unknown)
        }

        switch fields["url"] {
        case nil, .null?: throw .missing("url")
        case .string(let text)?: url = try WebhookURL(text)
        case let other?: throw .invalid("url", "URL must be a string, got \(other.kind).")
        }

        switch fields["enabled_events"] {
        case nil, .null?: throw .missing("enabled_events")
        case .array(let items)?:
            enabledEvents = try Self.events(items)
        case let other?: throw .invalid("enabled_events", "enabled_events must be an array of event types, got \(other.kind).")
        }

        description = try ValidationFailure.optionalDescription(fields["description"], maxLength: Self.maxDescriptionLength)

        switch fields["fifo"] {
        case nil, .null?: fifo = false
        case .bool(let value)?: fifo = value
        case let other?: throw .invalid("fifo", "fifo must be true or false, got \(other.kind).")
        }
    }

    private static func events(_ items: [JSONValue]) throws(ValidationFailure) -> [String] {
        let allowed = "\"*\" or one or more of " + subscribableEvents.joined(separator: ", ")
        guard !items.isEmpty else { throw .invalid("enabled_events", "enabled_events must not be empty: use \(allowed).") }
        var events: [String] = []
        for item in items {
            guard case .string(let type) = item, type == "*" || subscribableEvents.contains(type) else {
                throw .invalid("enabled_events", "enabled_events must be \(allowed).")
            }
            if !events.contains(type) { events.append(type) }
        }
        if events.contains("*") && events.count > 1 {
            throw .invalid("enabled_events", "\"*\" already means every event; list it alone.")
        }
        return events
    }
}
