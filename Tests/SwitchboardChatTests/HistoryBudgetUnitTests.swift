import Foundation
import NIOCore
import Switchboard
import Testing
@testable import SwitchboardChat

@Suite("HistoryBudget")
struct HistoryBudgetUnitTests {
    static let worstCases = [
        String(repeating: "\u{0001}", count: 4096), String(repeating: "\"", count: 4096),
        String(repeating: "\\/", count: 2048), String(repeating: "😀", count: 4096), "plain",
    ]

    @Test("the size bound is never below the encoded JSON of a history entry", arguments: worstCases)
    func boundCoversTheEncoding(text: String) throws {
        let message = StoredMessage(room: "r\u{7}/", seq: Int.max, from: "a\"b", message: text, sent: Date(timeIntervalSince1970: 4e9))
        let encoded = try JSONEncoder().encode(HistoryEntry(message: message))
        #expect(encoded.count + 1 <= HistoryBudget.encodedSizeBound(message))  // + the separating comma
        // What join acks and history pages carry: the hand-written entry (JSONWritable).
        #expect(HistoryEntry(message: message).jsonBuffer().readableBytes + 1 <= HistoryBudget.encodedSizeBound(message))
    }

    @Test("fit keeps the requested end, at least one message, and says when it cut")
    func fitKeepsTheRequestedEnd() {
        let messages = (1...10).map { StoredMessage(room: "r", seq: $0, from: "a", message: String(repeating: "x", count: 1000), sent: Date()) }
        let budget = HistoryBudget(maxQueuedBytes: 4 * 3 * 1200)  // room for three
        let oldest = budget.fit(messages, keep: .oldest)
        #expect(oldest.messages.map(\.seq) == [1, 2, 3] && oldest.cut)
        let newest = budget.fit(messages, keep: .newest)
        #expect(newest.messages.map(\.seq) == [8, 9, 10] && newest.cut)
        let tiny = HistoryBudget(maxQueuedBytes: 4).fit(messages, keep: .oldest)
        #expect(tiny.messages.map(\.seq) == [1] && tiny.cut)
        let all = budget.fit(Array(messages.prefix(2)), keep: .newest)
        #expect(all.messages.count == 2 && !all.cut)
    }
}
