import Foundation

/// Splits a migration file into statements, so each runs as one prepared statement
/// (PostgreSQL's extended protocol takes one statement at a time).
///
/// It understands `--` comments, single-quoted strings and `$$`-quoted function bodies, which
/// is all Settle's migrations use (tagged dollar quotes such as `$body$` are not supported).
public enum SQLScript {
    public static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inString = false
        var inDollarQuote = false
        var inComment = false
        var previous: Character = " "
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false; current.append("\n") }
                continue
            }
            if !inString && !inDollarQuote && character == "-" && previous == "-" {
                current.removeLast()
                inComment = true
                previous = " "
                continue
            }
            if character == "'" && !inDollarQuote { inString.toggle() }
            if character == "$" && previous == "$" && !inString {
                inDollarQuote.toggle()
                current.append(character)
                previous = " "
                continue
            }
            if character == ";" && !inString && !inDollarQuote {
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
