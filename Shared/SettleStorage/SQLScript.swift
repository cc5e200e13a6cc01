import Foundation

/// Splits a migration file into statements, so each runs as one prepared statement
/// (PostgreSQL's extended protocol takes one statement at a time).
///
/// It understands `--` comments and single-quoted strings, which is all Settle's migrations
/// use; dollar-quoted function bodies are not supported.
public enum SQLScript {
    public static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inString = false
        var inComment = false
        var previous: Character = " "
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false; current.append("\n") }
                continue
            }
            if !inString && character == "-" && previous == "-" {
                current.removeLast()
                inComment = true
                previous = " "
                continue
            }
            if character == "'" { inString.toggle() }
            if character == ";" && !inString {
                statements.append(current)
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        statements.append(current)
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }
}
