import NIOCore
import SteleBroker

/// Admits an HTTP connection through the shared ``ConnectionLimiter`` when it is set up, closes
/// it at once when over a limit, and gives its slot back when it ends.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let limiter: ConnectionLimiter
    private var admitted: String?

    init(limiter: ConnectionLimiter) { self.limiter = limiter }

    private var decided = false

    // The pipeline is built before the channel is active (a close then would be lost): decide
    // when it becomes active, or at once if it already is.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if limiter.admit(address) == nil { admitted = address } else { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    private func release() {
        if let address = admitted { limiter.release(address) }
        admitted = nil
    }
}
