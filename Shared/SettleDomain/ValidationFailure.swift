/// Why a request's parameters were refused: a stable code, the parameter it concerns and a
/// sentence for people. The API answers it as a 400 problem document.
public struct ValidationFailure: Error, Sendable, Equatable {
    public var code: String
    public var param: String?
    public var message: String

    public init(code: String, param: String?, message: String) {
        self.code = code
        self.param = param
        self.message = message
    }

    public static func missing(_ param: String) -> ValidationFailure {
        ValidationFailure(code: "parameter_missing", param: param, message: "Missing required parameter: \(param).")
    }

    public static func unknown(_ param: String) -> ValidationFailure {
        ValidationFailure(code: "parameter_unknown", param: param, message: "Received unknown parameter: \(param).")
    }

    public static func invalid(_ param: String, _ message: String) -> ValidationFailure {
        ValidationFailure(code: "parameter_invalid", param: param, message: message)
    }

    /// An optional `description`: absent or null is nil; otherwise a string of at most `maxLength` characters.
    public static func optionalDescription(_ value: JSONValue?, maxLength: Int) throws(ValidationFailure) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?:
            guard text.count <= maxLength else { throw .invalid("description", "Description must be at most \(maxLength) characters.") }
            return text
        case let other?: throw .invalid("description", "Description must be a string, got \(other.kind).")
        }
    }
}
