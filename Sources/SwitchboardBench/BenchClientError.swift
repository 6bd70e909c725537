/// Why one client could not log in, connect or join; its description is the failure kind the
/// report counts (so keep it short and free of per-client details such as ids).
struct BenchClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
