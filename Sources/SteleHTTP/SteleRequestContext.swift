import Hummingbird
import NIOCore

/// The request context of Stele's HTTP API: Hummingbird's basics and the client's address,
/// which ACLs name as the host.
public struct SteleRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
