import Foundation
import NIOSSL

/// A self-signed certificate for 127.0.0.1 and localhost, made with openssl, for TLS tests.
public enum TestCertificate {
    public struct Failure: Error {}

    /// Calls `body` with the certificate and key files and a client configuration that trusts
    /// the certificate; the files live while `body` runs.
    public static func with(
        _ body: (_ certificate: String, _ key: String, _ client: TLSConfiguration) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-tls-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw Failure() }

        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
        clientTLS.certificateVerification = .noHostnameVerification
        try await body(certificate, key, clientTLS)
    }
}
