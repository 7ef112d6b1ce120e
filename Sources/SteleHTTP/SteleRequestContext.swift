import Hummingbird
import NIOCore
import SteleSecurity

/// A request context that carries what the authenticated principal may see, for routes that
/// list only that (``HTTPAccess/signedIn``).
public protocol VisibilityRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Whether the request's principal may DESCRIBE a resource; nil when the server
    /// authorizes nothing (everything is visible).
    var mayDescribe: (@Sendable (AclResource) -> Bool)? { get set }
}

/// The request context of Stele's HTTP API: Hummingbird's basics and the client's address,
/// which ACLs name as the host.
public struct SteleRequestContext: VisibilityRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var mayDescribe: (@Sendable (AclResource) -> Bool)?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
