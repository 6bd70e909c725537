import HTTPTypes
import Hummingbird

/// Headers that keep the page from being framed (clickjacking), from running script that did
/// not come from this server, and from having its files reinterpreted as another type.
///
/// The page loads only its own `app.js` and `style.css`, has no inline script or style, and
/// talks only to its own origin (`connect-src 'self'` covers its `ws:`/`wss:` connection
/// under CSP 3), so the policy allows exactly that.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        [
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
            "connect-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }

    static var xFrameOptions: HTTPField.Name { HTTPField.Name("X-Frame-Options")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        Self.addHeaders(to: &response.headers)
        return response
    }

    /// Also for responses written outside the router (`EventLoopRoutes`).
    static func addHeaders(to fields: inout HTTPFields) {
        fields[.contentSecurityPolicy] = contentSecurityPolicy
        fields[.xContentTypeOptions] = "nosniff"
        // For browsers without CSP's frame-ancestors.
        fields[xFrameOptions] = "DENY"
    }
}
