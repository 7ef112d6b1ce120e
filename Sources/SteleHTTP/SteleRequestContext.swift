import Hummingbird
import NIOCore
import SteleSecurity

/// A request context that carries what the authenticated principal may do, for routes that
/// show only what it may see (``HTTPAccess/signedIn``) or that touch several resources.
public protocol VisibilityRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Whether the request's principal may do an operation on a resource; nil when the server
    /// authorizes nothing (everything is allowed).
    var principalMay: (@Sendable (AclOperation, AclResource) -> Bool)? { get set }
}

extension VisibilityRequestContext {
    /// ``principalMay``, true when the server authorizes nothing.
    func may(_ operation: AclOperation, _ resource: AclResource) -> Bool {
        principalMay?(operation, resource) ?? true
    }
}

/// The request context of Stele's HTTP API: Hummingbird's basics and the client's address,
/// which ACLs name as the host.
public struct SteleRequestContext: VisibilityRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var principalMay: (@Sendable (AclOperation, AclResource) -> Bool)?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
