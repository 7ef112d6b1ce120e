import NIOCore
import Synchronization
import SteleBroker

/// First in a Kafka connection's pipeline: reserves each request's size in the shared
/// ``RequestMemoryPool`` when its size prefix arrives, and holds the socket's next read while
/// a reservation waits or, between requests, while the pool is full. The server gives a
/// request's bytes back once it is answered (``release(_:)``), and whatever the connection still
/// holds when it ends (``releaseAll()``).
final class RequestMemoryHandler: ChannelDuplexHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct State {
        /// Bytes reserved and not given back; `nil` once the connection ended.
        var held: Int? = 0
        /// Bytes of requests whose reservation is still waiting for room in the pool.
        var owed = 0
        /// The size prefix being read (big-endian) and how many of its bytes arrived.
        var prefix: UInt32 = 0
        var prefixBytes = 0
        /// Bytes of the current request still to arrive.
        var remaining = 0
        /// A read the pipeline asked for while a reservation waited.
        var readHeld = false
        var waiting = false
        /// The largest frame accepted now: `frameLimitBeforeAuthentication` until the server calls
        /// ``allowFullFrames()``, then `maxFrameBytes`.
        var frameLimit: Int
        /// Before authentication: the frames read and not answered, each also reserved in the
        /// listener's ``UnauthenticatedRequestBudget``.
        var unauthenticatedFrames: [Int] = []
        var authenticated = true
        /// Counts requests whose size arrived, so a receive deadline knows whether its request
        /// is still the one being read.
        var frames = 0
    }

    let pool: RequestMemoryPool
    /// Frames outside 8…maxFrameBytes are not reserved: the frame decoder closes the connection.
    let maxFrameBytes: Int
    private let state: Mutex<State>
    /// The channel, to ask for a held read again from the connection's task.
    private let channel = Mutex<(any Channel)?>(nil)

    func handlerAdded(context: ChannelHandlerContext) {
        channel.withLock { $0 = context.channel }
    }

    /// How long a request may take to arrive once its size is known: `receiveTimeout` plus its
    /// size at `minimumBytesPerSecond`. A client that announces a large request and trickles it
    /// holds its reservation (and, when the pool is full, every other connection's next read)
    /// only that long; then its connection is closed and the bytes come back.
    let receiveTimeout: TimeAmount
    let minimumBytesPerSecond: Int

    /// Unauthenticated frames this small are not charged to the budget.
    static let smallUnauthenticatedFrame = 4096

    /// On a SASL listener: the largest frame before authentication, and the budget all the
    /// listener's unauthenticated connections share.
    let beforeAuthentication: (frameLimit: Int, budget: UnauthenticatedRequestBudget)?

    init(pool: RequestMemoryPool, maxFrameBytes: Int, receiveTimeout: TimeAmount = .seconds(30),
         minimumBytesPerSecond: Int = 1 << 20, beforeAuthentication: (frameLimit: Int, budget: UnauthenticatedRequestBudget)? = nil) {
        self.pool = pool
        self.maxFrameBytes = maxFrameBytes
        self.receiveTimeout = receiveTimeout
        self.beforeAuthentication = beforeAuthentication
        var initial = State(frameLimit: min(beforeAuthentication?.frameLimit ?? maxFrameBytes, maxFrameBytes))
        initial.authenticated = beforeAuthentication == nil
        self.state = Mutex(initial)
        self.minimumBytesPerSecond = max(1, minimumBytesPerSecond)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var deadlines: [(frame: Int, size: Int)] = []
        var refused: Int?
        let newFrames = state.withLock { state -> Int in
            var framed = 0
            var index = 0
            let bytes = buffer.readableBytesView
            while index < bytes.count {
                if state.remaining > 0 {
                    let take = min(state.remaining, bytes.count - index)
                    state.remaining -= take
                    index += take
                    continue
                }
                state.prefix = state.prefix << 8 | UInt32(bytes[bytes.startIndex + index])
                state.prefixBytes += 1
                index += 1
                guard state.prefixBytes == 4 else { continue }
                let size = Int(Int32(bitPattern: state.prefix))
                (state.prefix, state.prefixBytes) = (0, 0)
                if size > state.frameLimit && size <= maxFrameBytes {
                    // Larger than a connection may send before authenticating: nothing is
                    // reserved and the connection closes.
                    refused = size
                    break
                }
                if !state.authenticated, let budget = beforeAuthentication?.budget, (8...maxFrameBytes).contains(size) {
                    // Before authenticating, two requests in flight at most (the one answered
                    // and the next, which may arrive before the first is given back), within the
                    // budget all unauthenticated connections share: a flood of them cannot take
                    // the memory authenticated clients use. Past it the connection closes.
                    // Frames a login needs (ApiVersions, SASL messages: a few hundred bytes) are
                    // always admitted: connections filling the budget with large ones must not
                    // lock every client out of logging in.
                    let charged = size + 4 <= Self.smallUnauthenticatedFrame ? 0 : size + 4
                    guard state.unauthenticatedFrames.count < 2, charged == 0 || budget.reserve(charged) else {
                        refused = size
                        break
                    }
                    state.unauthenticatedFrames.append(charged)
                }
                if (8...maxFrameBytes).contains(size) {
                    framed += size + 4
                    state.remaining = size
                    state.frames += 1
                    if size > bytes.count - index { deadlines.append((state.frames, size)) }
                }
            }
            state.owed += framed
            return framed
        }
        if refused != nil {
            // Nothing of this read goes on; what it framed is forgiven when the channel ends.
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        if newFrames > 0 { settle(context) }
        for (frame, size) in deadlines { scheduleReceiveDeadline(context, frame: frame, size: size) }
    }

    /// Closes the connection if request `frame` has not fully arrived in time.
    private func scheduleReceiveDeadline(_ context: ChannelHandlerContext, frame: Int, size: Int) {
        let allowed = receiveTimeout + .nanoseconds(Int64(size) * 1_000_000_000 / Int64(minimumBytesPerSecond))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: allowed) { [self] in
            let stalled = state.withLock { $0.frames == frame && $0.remaining > 0 }
            if stalled { bound.value.close(promise: nil) }
        }
    }

    /// The connection authenticated: frames up to `maxFrameBytes` are accepted from now on.
    func allowFullFrames() {
        state.withLock { state in
            state.frameLimit = maxFrameBytes
            state.authenticated = true
        }
    }

    func read(context: ChannelHandlerContext) {
        enum Decision { case forward, hold, askPool }
        let decision = state.withLock { state -> Decision in
            if state.owed > 0 {
                state.readHeld = true
                return .hold
            }
            // Inside a request whose bytes are reserved: always finish reading it.
            return state.remaining > 0 || state.prefixBytes > 0 ? .forward : .askPool
        }
        switch decision {
        case .forward: context.read()
        case .hold: break
        case .askPool:
            let resume = resumption(context) { handler, context in handler.read(context: context) }
            if pool.admitRead(orResume: resume) { context.read() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseAll()
        context.fireChannelInactive()
    }

    /// An answered request gives its bytes back (its frame and the 4-byte size before it).
    /// Requests are answered oldest first, and the oldest hold granted bytes; only a request
    /// answered before its own reservation came through cancels what it owed — and then the
    /// read held for that reservation goes ahead (found by review: it waited for good).
    func release(_ bytes: Int) {
        let unauthenticated = state.withLock { state in state.unauthenticatedFrames.isEmpty ? 0 : state.unauthenticatedFrames.removeFirst() }
        if unauthenticated > 0 { beforeAuthentication?.budget.release(unauthenticated) }
        let (released, resumeRead) = state.withLock { state -> (Int, Bool) in
            guard let current = state.held else { return (0, false) }
            let amount = min(bytes, current)
            state.held = current - amount
            let forgiven = min(state.owed, bytes - amount)
            state.owed -= forgiven
            guard forgiven > 0, state.owed == 0, state.readHeld else { return (amount, false) }
            state.readHeld = false
            return (amount, true)
        }
        if released > 0 { pool.release(released) }
        if resumeRead { channel.withLock { $0 }?.read() }
    }

    /// The connection ended: everything it still holds (partial and unanswered requests) goes back.
    func releaseAll() {
        let (released, unauthenticated) = state.withLock { state -> (Int, Int) in
            defer { state.held = nil; state.owed = 0; state.unauthenticatedFrames = [] }
            return (state.held ?? 0, state.unauthenticatedFrames.reduce(0, +))
        }
        if released > 0 { pool.release(released) }
        if unauthenticated > 0 { beforeAuthentication?.budget.release(unauthenticated) }
    }

    /// Tries to reserve what the connection owes; once granted, a held read goes ahead.
    private func settle(_ context: ChannelHandlerContext) {
        enum Step { case reserve(Int), readNow, nothing }
        let step = state.withLock { state -> Step in
            guard state.held != nil, !state.waiting else { return .nothing }
            if state.owed > 0 { return .reserve(state.owed) }
            // The debt was cancelled while waiting: the held read goes ahead.
            guard state.readHeld else { return .nothing }
            state.readHeld = false
            return .readNow
        }
        let owed: Int
        switch step {
        case .nothing: return
        case .readNow: read(context: context); return
        case let .reserve(amount): owed = amount
        }
        let resume = resumption(context) { handler, context in
            handler.state.withLock { $0.waiting = false }
            handler.settle(context)
        }
        guard pool.reserve(owed, orResume: resume) else {
            state.withLock { $0.waiting = true }
            return
        }
        let (readNow, surplus) = state.withLock { state -> (Bool, Int) in
            guard state.held != nil else { return (false, owed) }
            // Requests answered meanwhile cancelled part of the debt: that part goes back.
            let stillOwed = min(state.owed, owed)
            state.held! += stillOwed
            state.owed -= stillOwed
            defer { state.readHeld = false }
            return (state.readHeld, owed - stillOwed)
        }
        if surplus > 0 { pool.release(surplus) }
        if readNow { read(context: context) }
    }

    /// A closure the pool may call from any thread: it hops to the channel's event loop and
    /// does nothing once the channel is closed.
    private func resumption(_ context: ChannelHandlerContext,
                            _ body: @escaping @Sendable (RequestMemoryHandler, ChannelHandlerContext) -> Void) -> @Sendable () -> Void {
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        return { [self] in
            loop.execute {
                let context = bound.value
                if context.channel.isActive { body(self, context) }
            }
        }
    }
}

/// Request bytes all of a SASL listener's unauthenticated connections may hold at once (Kafka
/// bounds each with `sasl.server.max.receive.size`; this bounds them together): connections
/// that have proved nothing cannot take the request memory authenticated clients need.
final class UnauthenticatedRequestBudget: Sendable {
    let capacity: Int
    private let used = Mutex(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    var inUse: Int { used.withLock { $0 } }

    /// Takes `bytes` if they fit; never waits.
    func reserve(_ bytes: Int) -> Bool {
        used.withLock { used in
            guard used + bytes <= capacity else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        used.withLock { used in
            assert(used >= bytes, "more unauthenticated bytes given back than reserved")
            used = max(0, used - bytes)
        }
    }
}
