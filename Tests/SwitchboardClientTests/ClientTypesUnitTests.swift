import SwitchboardProtocol
import Testing
@testable import SwitchboardClient

@Suite("Client types")
struct ClientTypesUnitTests {
    @Test("server URLs: http/ws and https/wss with default ports; the socket URL carries the ticket, escaped")
    func endpoints() throws {
        let plain = try #require(ServerEndpoint(url: "ws://chat.example.com/anything"))
        #expect(plain == ServerEndpoint(host: "chat.example.com", port: 80, isTLS: false))
        let secure = try #require(ServerEndpoint(url: "https://chat.example.com:8443"))
        #expect(secure.isTLS && secure.port == 8443)
        #expect(ServerEndpoint(url: "wss://h")?.port == 443)
        #expect(ServerEndpoint(url: "ftp://h") == nil)
        #expect(ServerEndpoint(url: "not a url") == nil)
        #expect(secure.webSocketURL(ticket: "a+b/c=d-_.~") == "wss://chat.example.com:8443/ws?ticket=a%2Bb%2Fc%3Dd-_.~")
        #expect(throws: SwitchboardClientError.invalidURL("ftp://h")) {
            _ = try SwitchboardClient(url: "ftp://h", credentials: .ticket("t"))
        }
    }

    @Test("close codes map to typed close reasons: 4008, 4029, 1001, 1009, others kept")
    func closeReasons() {
        #expect(CloseReason(code: 4008) == .slowConsumer)
        #expect(CloseReason(code: 4029) == .flood)
        #expect(CloseReason(code: 1001) == .goingAway)
        #expect(CloseReason(code: 1009) == .messageTooBig)
        #expect(CloseReason(code: 1011) == .other(1011))
    }

    @Test("every protocol error code has its typed error; unknown codes keep code and message")
    func errorCodes() {
        let cases: [(ErrorCode, SwitchboardClientError)] = [
            (.notInRoom, .notInRoom("m")), (.rateLimited, .rateLimited("m")), (.unavailable, .unavailable("m")),
            (.tooManyRooms, .tooManyRooms("m")), (.badPayload, .badPayload("m")), (.forbidden, .forbidden("m")),
            (.internal, .server(code: .internal, message: "m")),
            (ErrorCode(rawValue: "from_the_future"), .server(code: ErrorCode(rawValue: "from_the_future"), message: "m")),
        ]
        for (code, expected) in cases {
            #expect(SwitchboardClientError(ErrorPayload(code: code, message: "m")) == expected)
        }
    }
}
