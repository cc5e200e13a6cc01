/// A missing or malformed environment variable: names the variable and the expected form.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var variable: String
    public var expected: String
    public var actual: String?

    public init(variable: String, expected: String, actual: String?) {
        self.variable = variable
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        if let actual {
            return "\(variable) must be \(expected), got '\(actual)'"
        }
        return "\(variable) is not set; it must be \(expected)"
    }
}
