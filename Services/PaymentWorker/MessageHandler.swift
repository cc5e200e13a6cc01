import SettleKafka

/// Handles one message; throws when it could not. The payment logic is one, and the retry and
/// retry-topic behaviour are middleware around it, each a function from handler to handler
/// (Watermill's `retry` and `poison` middleware are the model).
typealias MessageHandler = @Sendable (KafkaConsumerMessage) async throws -> Void
