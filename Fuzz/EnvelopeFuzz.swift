// libFuzzer entry point over the decoding a client's bytes go through before any handler
// runs: the event envelope, each chat payload shape, and the incremental UTF-8 validator.
//
// Built by scripts/fuzz.sh with swiftc (no SwiftPM), together with the library files it
// exercises, which import only Foundation:
//   Sources/SwitchboardProtocol/*.swift (the envelope and the chat payloads the server decodes)
//   Sources/Switchboard/Connection/UTF8Validator.swift
// Any crash, trap or AddressSanitizer report is a finding; see docs/FUZZING.md.

import Foundation

/// A deterministic split point in 0...count derived from the bytes themselves (FNV-1a), so
/// libFuzzer sees the same behaviour for the same input and still explores every split.
@inline(never)
func splitPoint(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x100_0000_01b3
    }
    return Int(hash % UInt64(bytes.count + 1))
}

/// Differential check: the DFA validator, fed in two pieces, against the standard library.
@inline(never)
func checkUTF8(_ bytes: UnsafeBufferPointer<UInt8>) {
    let split = splitPoint(bytes)
    var validator = UTF8Validator()
    let accepted = validator.feed(bytes[..<split]) && validator.feed(bytes[split...]) && validator.isComplete
    let reference = String(validating: bytes, as: UTF8.self) != nil
    if accepted != reference {
        fatalError("UTF8Validator says \(accepted), String(validating:) says \(reference), split at \(split) of \(bytes.count)")
    }
    // Fed all at once it must agree too; a prefix the DFA rejected stays rejected.
    var whole = UTF8Validator()
    if (whole.feed(bytes) && whole.isComplete) != reference {
        fatalError("UTF8Validator in one piece disagrees with String(validating:)")
    }
}

/// The envelope, then the payload as every chat shape. Errors are expected; crashes are not.
@inline(never)
func checkEnvelope(_ data: Data) {
    let envelope: Envelope
    do {
        envelope = try Envelope.decode(data)
    } catch {
        // A rejection's id is whatever could be read; it must print and re-encode.
        _ = error.id?.description
        _ = error.error.code.description
        return
    }
    _ = envelope.type.utf8.count
    if let id = envelope.id {
        // The id is echoed verbatim on the reply: it must survive a JSON round trip.
        guard let encoded = try? JSONEncoder().encode([id]) else { fatalError("id \(id) does not encode") }
        guard let decoded = try? JSONDecoder().decode([EventID].self, from: encoded), decoded == [id] else {
            fatalError("id \(id) does not round-trip through JSON")
        }
        _ = id.description
    }
    func payload<P: Decodable>(_ type: P.Type) {
        do {
            _ = try envelope.payload(as: type)
        } catch {
            _ = error.message.utf8.count
        }
    }
    payload(JoinRoomRequest.self)
    payload(SendMessageRequest.self)
    payload(LeaveRoomRequest.self)
    payload(ChangeRoomRequest.self)
    payload(HistoryRequest.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count)
    checkUTF8(bytes)
    checkEnvelope(Data(bytes))
    return 0
}
