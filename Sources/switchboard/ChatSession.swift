import Foundation
import SwitchboardClient
import SwitchboardProtocol

/// The terminal chat's state (current room, members, last seq per room) and what each input
/// does to it. Only the chat's single loop calls it.
struct ChatSession {
    enum Input: Sendable {
        case line(String)
        case endOfInput
        case event(ClientEvent)
        case status(ConnectionStatus)
        case joined(Result<JoinResult, any Error>)
        case left(room: String, Result<Void, any Error>)
        case history(room: String, Result<HistoryAck, any Error>)
        case sent(Result<Int, any Error>)
        case stopped(DisconnectReason)
    }

    enum Outcome { case `continue`, quit }

    let client: SwitchboardClient
    let screen: ChatScreen
    private(set) var current: String
    private(set) var ended: Input?
    private var members: [String: Set<String>] = [:]
    private var lastSeq: [String: Int] = [:]
    /// Typed (or piped) before the first room's join was answered: run after it, so that
    /// `printf 'hi\n/quit\n' | switchboard chat ...` sends to the room it names.
    private var waitingForFirstJoin: [Input]? = []
    /// Sends not answered yet: `/quit` (or the end of piped input) waits for them.
    private var unansweredSends = 0
    private var quitting = false

    init(client: SwitchboardClient, screen: ChatScreen, room: String) {
        self.client = client
        self.screen = screen
        current = room
    }

    mutating func handle(
        _ input: Input, in group: inout ThrowingTaskGroup<Void, any Error>, input continuation: AsyncStream<Input>.Continuation
    ) async -> Outcome {
        switch input {
        case .line, .endOfInput:
            if waitingForFirstJoin != nil {
                waitingForFirstJoin?.append(input)
                return .continue
            }
            guard case .line(let line) = input else { return quit() }
            return command(line, in: &group, continuation)
        case .event(let event):
            show(event)
        case .status(let status):
            show(status)
        case .joined(.success(let joined)):
            current = joined.room
            members[joined.room] = Set(joined.members)
            for message in joined.history { screen.message(message) }
            lastSeq[joined.room] = joined.seq
            screen.notice("joined; \(joined.members.count) here: \(joined.members.sorted().joined(separator: ", "))", room: joined.room)
            return await runTypedAhead(in: &group, continuation)
        case .left(let room, .success):
            members[room] = nil
            screen.notice("left", room: room)
            if room == current, let other = members.keys.sorted().first { current = other }
        case .history(let room, .success(let page)):
            if page.messages.isEmpty { screen.notice("no history", room: room) }
            for message in page.messages { screen.message(message) }
        case .sent(.success):
            // The message itself arrives as new_message, like everyone else's.
            unansweredSends -= 1
            if quitting && unansweredSends == 0 { return .quit }
        case .joined(.failure(let error)):
            screen.error(Self.describe(error))
            return await runTypedAhead(in: &group, continuation)
        case .sent(.failure(let error)):
            unansweredSends -= 1
            screen.error(Self.describe(error))
            if quitting && unansweredSends == 0 { return .quit }
        case .left(_, .failure(let error)), .history(_, .failure(let error)):
            screen.error(Self.describe(error))
        case .stopped(let reason):
            ended = input
            screen.status("disconnected: \(reason)")
            return .quit
        }
        return .continue
    }

    private mutating func quit() -> Outcome {
        quitting = true
        return unansweredSends == 0 ? .quit : .continue
    }

    private mutating func runTypedAhead(
        in group: inout ThrowingTaskGroup<Void, any Error>, _ continuation: AsyncStream<Input>.Continuation
    ) async -> Outcome {
        guard let typed = waitingForFirstJoin else { return .continue }
        waitingForFirstJoin = nil
        for input in typed where await handle(input, in: &group, input: continuation) == .quit {
            return .quit
        }
        return .continue
    }

    private mutating func command(
        _ line: String, in group: inout ThrowingTaskGroup<Void, any Error>, _ input: AsyncStream<Input>.Continuation
    ) -> Outcome {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return .continue }
        let client = client
        guard text.hasPrefix("/") else {
            let room = current
            unansweredSends += 1
            group.addTask { input.yield(.sent(await Result(catching: { try await client.send(text, to: room) }))) }
            return .continue
        }
        let words = text.split(separator: " ").map(String.init)
        switch words[0] {
        case "/quit":
            return quit()
        case "/join" where words.count == 2:
            let room = words[1]
            group.addTask { input.yield(.joined(await Result(catching: { try await client.join(room) }))) }
        case "/leave" where words.count <= 2:
            let room = words.count == 2 ? words[1] : current
            group.addTask { input.yield(.left(room: room, await Result(catching: { try await client.leave(room) }))) }
        case "/rooms":
            let rooms = members.keys.sorted().map { $0 == current ? "*\($0)" : $0 }
            screen.notice(rooms.isEmpty ? "no rooms" : "rooms: \(rooms.joined(separator: " "))")
        case "/who":
            let here = members[current, default: []].sorted()
            screen.notice("\(here.count) here: \(here.joined(separator: ", "))", room: current)
        case "/history" where words.count <= 2:
            guard let count = words.count == 2 ? Int(words[1]) : 20, (1...100).contains(count) else {
                screen.error("usage: /history [N], N from 1 to 100")
                return .continue
            }
            let room = current
            let before = (lastSeq[room] ?? 0) + 1
            group.addTask {
                input.yield(.history(room: room, await Result(catching: { try await client.history(room: room, before: before, limit: count) })))
            }
        default:
            screen.error("unknown command \(words[0]) (try /join R, /leave R, /rooms, /who, /history N, /quit)")
        }
        return .continue
    }

    private mutating func show(_ event: ClientEvent) {
        switch event {
        case .newMessage(let message):
            lastSeq[message.room] = max(lastSeq[message.room] ?? 0, message.seq)
            screen.message(message)
        case .userJoined(let room, let user):
            members[room, default: []].insert(user)
            screen.notice("\(user) joined", room: room)
        case .userLeft(let room, let user):
            members[room]?.remove(user)
            screen.notice("\(user) left", room: room)
        case .recovered(let room):
            screen.status("#\(room) caught up, nothing missed")
        case .gap(let room, _):
            screen.status("#\(room) restarted on the server: earlier messages may be missing")
        case .lostRoom(let room, let error):
            members[room] = nil
            screen.error("#\(room) could not be rejoined: \(Self.describe(error))")
        }
    }

    private func show(_ status: ConnectionStatus) {
        switch status {
        case .connecting:
            break
        case .connected:
            screen.status("connected")
        case .reconnecting(let attempt, let after, let reason):
            let seconds = Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18
            screen.status("\(reason); reconnecting (attempt \(attempt)) in \(String(format: "%.1f", seconds))s")
        case .disconnected:
            break  // `.stopped` reports it, with the reason, once run() has returned
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case SwitchboardClientError.notInRoom(let message), SwitchboardClientError.rateLimited(let message),
             SwitchboardClientError.unavailable(let message), SwitchboardClientError.tooManyRooms(let message),
             SwitchboardClientError.badPayload(let message), SwitchboardClientError.forbidden(let message):
            return message
        case SwitchboardClientError.timedOut:
            return "no answer from the server in time"
        default:
            return "\(error)"
        }
    }
}
