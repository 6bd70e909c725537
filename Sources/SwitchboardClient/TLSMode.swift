import NIOSSL

/// How `https`/`wss` servers are verified.
public enum TLSMode: Sendable {
    /// The system's trust roots.
    case system
    /// Only certificates signed by the CA in this PEM file (a private or test CA).
    case customCA(pemFile: String)
    /// No verification at all: for development against a self-signed server only.
    case insecureNoVerification

    func configuration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch self {
        case .system: break
        case .customCA(let pemFile): configuration.trustRoots = .file(pemFile)
        case .insecureNoVerification: configuration.certificateVerification = .none
        }
        return configuration
    }
}
