import NIOCore

/// The write point of an upgraded channel, placed in front of NIO's `WebSocketFrameEncoder`.
///
/// Writes made through this handler's context skip the encoder, so a frame built once
/// (`OutboundFrame`) goes to every member as the same bytes. Only the connection handler uses
/// it, and only on the channel's event loop: that is the "one writer per connection".
final class FrameWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }
}
