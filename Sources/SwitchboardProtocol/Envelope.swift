import Foundation

/// The envelope of a client event, `{"type": T, "payload": {...}, "id": I}`, decoded
/// without its payload; the payload is decoded later into the handler's own type.
public struct Envelope: Sendable, Equatable {
    public var type: String
    public var id: EventID?
    /// The whole message, kept so the payload can be decoded as the handler's type.
    let json: Data

    /// Why a message is not an event. Carries whatever `id` could be read, so the error
    /// reply can still be matched by the client.
    public struct Rejection: Error, Equatable {
        public var error: EventError
        public var id: EventID?
    }

    /// Decodes the envelope, or throws `Rejection` with `bad_json` or `bad_event`.
    public static func decode(_ json: Data) throws(Rejection) -> Envelope {
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: json)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw Rejection(error: EventError(.badJSON, "message is not valid JSON"), id: nil)
            }
            throw Rejection(error: EventError(.badEvent, "an event is a JSON object with a string \"type\""), id: nil)
        } catch {
            throw Rejection(error: EventError(.badJSON, "message is not valid JSON"), id: nil)
        }
        if header.badID {
            throw Rejection(error: EventError(.badEvent, "\"id\" must be a string or an integer"), id: nil)
        }
        guard let type = header.type else {
            throw Rejection(error: EventError(.badEvent, "\"type\" must be a string"), id: header.id)
        }
        return Envelope(type: type, id: header.id, json: json)
    }

    /// Decodes the payload as `P`; a missing or null payload decodes as `{}`.
    public func payload<P: Decodable>(as type: P.Type) throws(EventError) -> P {
        do {
            let decoder = JSONDecoder()
            return try decoder.decode(PayloadBox<P>.self, from: json).payload
                ?? decoder.decode(P.self, from: Data("{}".utf8))
        } catch let error as DecodingError {
            throw EventError(.badPayload, Self.describe(error))
        } catch {
            throw EventError(.badPayload, "payload does not match")
        }
    }

    private struct Header: Decodable {
        var type: String?
        var id: EventID?
        var badID = false

        enum CodingKeys: String, CodingKey { case type, id }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try? container.decodeIfPresent(String.self, forKey: .type)
            if container.contains(.id), !((try? container.decodeNil(forKey: .id)) ?? false) {
                if let id = try? container.decode(EventID.self, forKey: .id) { self.id = id } else { badID = true }
            }
        }
    }

    /// A missing or null payload decodes as nil, and then as `{}`.
    private struct PayloadBox<P: Decodable>: Decodable {
        var payload: P?
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            // The first key is the envelope's own "payload"; a field may be called that too.
            codingPath.dropFirst().map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "missing field \"\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let field = path(context.codingPath)
            return field.isEmpty ? "payload must be an object" : "field \"\(field)\" has the wrong type"
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            return field.isEmpty ? context.debugDescription : "field \"\(field)\": \(context.debugDescription)"
        @unknown default:
            return "payload does not match"
        }
    }
}
