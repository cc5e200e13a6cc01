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
}
