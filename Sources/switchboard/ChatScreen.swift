import Foundation
import SwitchboardClient
import SwitchboardProtocol

/// How the terminal chat writes lines: time, room and sender first. Colours only on a
/// terminal; piped output stays plain text without escape codes.
struct ChatScreen: Sendable {
    let isTerminal: Bool

    func message(_ message: NewMessage) {
        let time = Self.clock(Timestamp.date(message.sent) ?? Date())
        write("\(dim(time)) #\(message.room) \(bold("<\(message.from)>")) \(message.message)")
    }

    func notice(_ text: String, room: String? = nil) {
        let prefix = room.map { "#\($0) " } ?? ""
        write("\(dim(Self.clock(Date()))) \(prefix)* \(text)")
    }

    func status(_ text: String) {
        write(colour("-- \(text)", code: "33"))
    }

    func error(_ text: String) {
        write(colour("!! \(text)", code: "31"))
    }

    func write(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func dim(_ text: String) -> String { colour(text, code: "2") }
    private func bold(_ text: String) -> String { colour(text, code: "1") }

    private func colour(_ text: String, code: String) -> String {
        isTerminal ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}
