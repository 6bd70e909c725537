import Foundation
import PostgresNIO

/// `switchboard_append` as a prepared statement: parsed and planned once per pooled
/// connection instead of once per batch.
struct AppendStatement: PostgresPreparedStatement {
    static let sql = "SELECT seq, duplicate FROM switchboard_append($1, $2, $3, $4, $5, $6)"
    typealias Row = (Int, Bool)

    var room: String
    var senders: [String]
    var bodies: [String]
    var sent: [Date]
    /// "" for none: arrays of optionals do not bind.
    var keys: [String]
    var retention: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(room)
        bindings.append(senders)
        bindings.append(bodies)
        bindings.append(sent)
        bindings.append(keys)
        bindings.append(retention)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
