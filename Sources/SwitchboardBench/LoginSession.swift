import NIOCore

/// One connect worker's keep-alive login connection: `POST /login {"username":"b<n>"}` →
/// ticket. Reusing the connection saves a TCP handshake (and a socket) per client; a closed
/// or failed connection is replaced, and a transport failure is retried twice.
///
/// Used by one worker task at a time, never concurrently.
final class LoginSession {
    private let connector: BenchConnector
    private var connection: (channel: any Channel, reader: HTTPResponseReader)?

    init(connector: BenchConnector) {
        self.connector = connector
    }

    func ticket(forUser username: String) async throws -> String {
        let body = #"{"username":""# + username + #""}"#
        let target = connector.target
        let request = "POST \(target.pathPrefix)/login HTTP/1.1\r\nHost: \(target.hostHeader)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        var attempt = 0
        while true {
            let response: HTTPResponseReader.Response
            do {
                let (channel, reader) = try await currentConnection()
                response = try await reader.send(ByteBuffer(string: request), on: channel).get()
                if response.closes { close() }
            } catch {
                close()
                attempt += 1
                if attempt > 2 { throw error }
                try await Task.sleep(for: .milliseconds(50 * attempt))
                continue
            }
            guard response.status == 200 else { throw BenchClientError("HTTP \(response.status)") }
            let ticket: String? = response.body.withUnsafeBytes { bytes in
                ServerEventScanner.scan(bytes).ticket.map { ServerEventScanner.string(bytes, $0) }
            }
            guard let ticket, !ticket.isEmpty else { throw BenchClientError("no ticket in the answer") }
            return ticket
        }
    }

    private func currentConnection() async throws -> (any Channel, HTTPResponseReader) {
        if let connection, connection.channel.isActive { return connection }
        let fresh = try await connector.connectLogin()
        connection = fresh
        return fresh
    }

    func close() {
        connection?.channel.close(promise: nil)
        connection = nil
    }
}
