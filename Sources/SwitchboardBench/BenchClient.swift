import NIOCore

/// A connected benchmark client: its channel, and the handler that does its reading and
/// writing on the channel's event loop.
final class BenchClient: Sendable {
    let index: Int
    let room: String
    let channel: any Channel
    let handler: BenchWebSocketHandler

    init(index: Int, room: String, channel: any Channel, handler: BenchWebSocketHandler) {
        self.index = index
        self.room = room
        self.channel = channel
        self.handler = handler
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    /// Still connected (thread-safe: NIO keeps `isActive` readable from any thread).
    var isAlive: Bool { channel.isActive }

    func join() async throws {
        let handler = self.handler
        try await eventLoop.flatSubmit { handler.sendJoin() }.get()
    }

    func close() {
        let handler = self.handler
        eventLoop.execute { handler.closeByUs() }
    }
}
