import Foundation

/// The local stack's `.settle/stack.env` (written by `settle up`), merged under the process
/// environment: a variable set in the environment wins over the file.
public enum StackEnvironment {
    /// The checkout's `.settle` directory: `SETTLE_HOME` if set, else the nearest directory
    /// at or above the current one that holds `Package.swift` or `.settle`.
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let home = environment["SETTLE_HOME"], !home.isEmpty {
            return URL(fileURLWithPath: home, isDirectory: true)
        }
        var candidate = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        while candidate.path != "/" {
            let manager = FileManager.default
            if manager.fileExists(atPath: candidate.appendingPathComponent(".settle").path)
                || manager.fileExists(atPath: candidate.appendingPathComponent("Package.swift").path) {
                return candidate.appendingPathComponent(".settle", isDirectory: true)
            }
            candidate.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".settle", isDirectory: true)
    }

    /// Parses `KEY=value` lines; blank lines and `#` comments are skipped.
    public static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            var value = String(trimmed[trimmed.index(after: equals)...])
            if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
            values[String(trimmed[..<equals])] = value
        }
        return values
    }

    /// The file's values overlaid with the process environment.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        let file = directory(environment: environment).appendingPathComponent("stack.env")
        let fromFile = (try? String(contentsOf: file, encoding: .utf8)).map(parse) ?? [:]
        return fromFile.merging(environment) { $1 }
    }
}
