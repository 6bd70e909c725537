import Benchmark
import NIOCore
import NIOWebSocket
import Switchboard

/// Micro-benchmarks of Switchboard's hot paths. See `Benchmarks/README.md` for what each
/// one measures and how to run them.
///
/// The micro-benchmarks run 1000 operations per iteration (`scalingFactor: .kilo`), so the
/// reported (`*`) figures are per operation; the fan-out benchmark delivers one frame to
/// 1000 members per iteration, so its figures are per member.
let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput]
    // Short runs: the machine is shared with load tests.
    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 200
    )

    // 1. Inbound events: envelope, then the handler's payload type.

    Benchmark("Envelope.decode send_message") { benchmark in
        let json = Fixtures.sendMessageJSON
        for _ in benchmark.scaledIterations {
            do {
                blackHole(try Envelope.decode(json))
            } catch {
                benchmark.error("decode failed: \(error)")
                return
            }
        }
    }

    Benchmark("Envelope.decode + payload(as: SendMessage)") { benchmark in
        let json = Fixtures.sendMessageJSON
        for _ in benchmark.scaledIterations {
            do {
                let envelope = try Envelope.decode(json)
                blackHole(try envelope.payload(as: Fixtures.SendMessage.self))
            } catch {
                benchmark.error("decode failed: \(error)")
                return
            }
        }
    }

    // 2. Outbound: a `new_message` frame, built once per message.

    Benchmark("new_message frame encode") { benchmark in
        let allocator = ByteBufferAllocator()
        let message = Fixtures.storedMessage
        for _ in benchmark.scaledIterations {
            blackHole(NewMessageFrame.make(message, allocator: allocator))
        }
    }

    // 3. Fan-out: one broadcast to 1000 real connections, until every socket has it.

    let fanOut = FanOutBench(members: 1000)
    Benchmark(
        "Hub.broadcast fan-out, 1000 members (per member)",
        configuration: .init(
            metrics: metrics,
            warmupIterations: 3,
            scalingFactor: .kilo,  // = members: figures are per member
            maxDuration: .seconds(3),
            maxIterations: 300,
            setup: { try await fanOut.start() },
            teardown: { await fanOut.stop() }
        )
    ) { benchmark in
        precondition(fanOut.members == benchmark.scaledIterations.count)
        do {
            try fanOut.broadcastAndDrain()
        } catch {
            benchmark.error("fan-out failed: \(error)")
        }
    }

    // 4. Inbound frames: unmask, UTF-8 check, message out.

    Benchmark("InboundMessageAssembler.receive 100 B masked text") { benchmark in
        var assembler = InboundMessageAssembler(maxMessageSize: 64 * 1024)
        let frame = Fixtures.maskedTextFrame
        for _ in benchmark.scaledIterations {
            guard case .message = blackHoleReturn(assembler.receive(frame)) else {
                benchmark.error("frame was not assembled into a message")
                return
            }
        }
    }

    // 5. UTF-8 validation of a 4 KiB text message.

    Benchmark("UTF8Validator 4 KiB ASCII") { benchmark in
        let text = Fixtures.asciiText4K
        for _ in benchmark.scaledIterations {
            var validator = UTF8Validator()
            let valid = validator.feed(text.readableBytesView) && validator.isComplete
            blackHole(valid)
        }
    }

    Benchmark("UTF8Validator 4 KiB mixed") { benchmark in
        let text = Fixtures.mixedText4K
        for _ in benchmark.scaledIterations {
            var validator = UTF8Validator()
            let valid = validator.feed(text.readableBytesView) && validator.isComplete
            blackHole(valid)
        }
    }
}

/// `blackHole` for a value that is also used afterwards.
@inline(never)
func blackHoleReturn<T>(_ value: T) -> T {
    blackHole(value)
    return value
}
