/// A validated `POST /v1/orders` body (DESIGN.md "HTTP API v1").
public struct NewOrder: Sendable, Equatable {
    public static let amountRange: ClosedRange<Int64> = 1...99_999_999
    public static let maxDescriptionLength = 1_000
    public static let maxMetadataKeys = 20
    public static let maxMetadataKeyLength = 40
    public static let maxMetadataValueLength = 500

    public var amount: Int64
    /// Lower-case ISO 4217.
    public var currency: String
    public var paymentMethod: PaymentMethod
    public var description: String?
    public var metadata: [String: String]

    public init(amount: Int64, currency: String, paymentMethod: PaymentMethod, description: String? = nil, metadata: [String: String] = [:]) {
        self.amount = amount
        self.currency = currency
        self.paymentMethod = paymentMethod
        self.description = description
        self.metadata = metadata
    }

    /// Validates a decoded request body, field by field; the first failure is thrown.
    /// Unknown fields are refused, so a misspelt optional field never passes silently.
    public init(json: JSONValue) throws(ValidationFailure) {
        guard case .object(let fields) = json else {
            throw ValidationFailure(code: "invalid_body", param: nil, message: "The request body must be a JSON object.")
        }
        let known: Set<String> = ["amount", "currency", "payment_method", "description", "metadata"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw .unknown(unknown)
        }

        switch fields["amount"] {
        case nil, .null?: throw .missing("amount")
        case .integer(let value)?:
            guard Self.amountRange.contains(value) else {
                throw ValidationFailure(code: value < 1 ? "amount_too_small" : "amount_too_large", param: "amount",
                                        message: "Amount must be an integer from 1 to 99999999 (minor units), got \(value).")
            }
            amount = value
        case let other?:
            throw .invalid("amount", "Amount must be an integer number of minor units, got \(other.kind).")
        }

        switch fields["currency"] {
        case nil, .null?: throw .missing("currency")
        case .string(let text)?:
            guard let code = CurrencyCode.normalized(text) else {
                throw .invalid("currency", "Currency must be an ISO 4217 code such as \"usd\", got \"\(text.prefix(20))\".")
            }
            currency = code
        case let other?:
            throw .invalid("currency", "Currency must be a string, got \(other.kind).")
        }

        switch fields["payment_method"] {
        case nil, .null?: throw .missing("payment_method")
        case .string(let text)?:
            guard let method = PaymentMethod(rawValue: text) else {
                let names = PaymentMethod.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid("payment_method", "Payment method must be one of \(names).")
            }
            paymentMethod = method
        case let other?:
            throw .invalid("payment_method", "Payment method must be a string, got \(other.kind).")
        }

        description = try ValidationFailure.optionalDescription(fields["description"], maxLength: Self.maxDescriptionLength)

        switch fields["metadata"] {
        case nil, .null?: metadata = [:]
        case .object(let entries)?:
            guard entries.count <= Self.maxMetadataKeys else {
                throw .invalid("metadata", "Metadata can have at most \(Self.maxMetadataKeys) keys.")
            }
            var metadata: [String: String] = [:]
            for key in entries.keys.sorted() {
                guard !key.isEmpty, key.count <= Self.maxMetadataKeyLength else {
                    throw .invalid("metadata", "Metadata keys must be 1 to \(Self.maxMetadataKeyLength) characters.")
                }
                guard case .string(let value) = entries[key]! else {
                    throw .invalid("metadata[\(key)]", "Metadata values must be strings.")
                }
                guard value.count <= Self.maxMetadataValueLength else {
                    throw .invalid("metadata[\(key)]", "Metadata values must be at most \(Self.maxMetadataValueLength) characters.")
                }
                metadata[key] = value
            }
            self.metadata = metadata
        case let other?:
            throw .invalid("metadata", "Metadata must be an object of string keys and string values, got \(other.kind).")
        }
    }
}
