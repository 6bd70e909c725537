import HTTPTypes
import Metrics
import NIOCore
import NIOHTTPTypes

/// Closes a plain-HTTP connection whose request has not fully arrived `timeout` after its
/// head. The handshake timeout covers only the first request's head, and the idle timeout
/// restarts with every byte that arrives, so without this a body that trickles in one byte
/// at a time holds its connection (and a handler task) open for as long as it likes.
///
/// The deadline covers the request only: the response may take as long as the client takes
/// to read it, and a keep-alive connection waiting for its next request is the idle
/// timeout's business.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: Duration) {
        self.timeout = .init(timeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let channel = context.channel
            deadline = context.eventLoop.scheduleTask(in: timeout) {
                Counter(label: "switchboard_http_request_timeouts_total").increment()
                channel.close(promise: nil)
            }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
