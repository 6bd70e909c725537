#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Benchmark
import NIOCore
import NIOWebSocket
import Switchboard
import SwitchboardChat

/// Micro-benchmarks of Switchboard's hot paths. See `Benchmarks/README.md` for what each
/// one measures and how to run them.
///
/// The micro-benchmarks run 1000 operations per iteration (`scalingFactor: .kilo`), so the
/// reported (`*`) figures are per operation; the fan-out benchmark delivers one frame to
/// 1000 members per iteration, so its figures are per member.
let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, processCPU, .mallocCountTotal, .throughput]
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
        measuringCPU(benchmark) {
            for _ in benchmark.scaledIterations {
                do {
                    blackHole(try Envelope.decode(json))
                } catch {
                    benchmark.error("decode failed: \(error)")
                    return
                }
            }
        }
    }

    Benchmark("Envelope.decode + payload(as: SendMessage)") { benchmark in
        let json = Fixtures.sendMessageJSON
        measuringCPU(benchmark) {
            for _ in benchmark.scaledIterations {
                do {
                    let envelope = try Envelope.decode(json)
                    blackHole(try envelope.payload(as: SendMessageRequest.self))
                } catch {
                    benchmark.error("decode failed: \(error)")
                    return
                }
            }
        }
    }

    // 2. Outbound: a `new_message` frame, built once per message.

    Benchmark("new_message frame encode") { benchmark in
        let allocator = ByteBufferAllocator()
        let message = Fixtures.storedMessage
        measuringCPU(benchmark) {
            for _ in benchmark.scaledIterations {
                blackHole(ChatFrames.newMessage(message, allocator: allocator))
            }
        }
    }

    // 3. Fan-out: one broadcast to 1000 real connections, until every socket has it. The
    // same run twice: per member (scaled by 1000), and per broadcast, where the small
    // per-broadcast malloc count is not rounded away.

    for (name, scaling) in [("per member", BenchmarkScalingFactor.kilo), ("per broadcast", .one)] {
        let fanOut = FanOutBench(members: 1000)
        Benchmark(
            "Hub.broadcast to 1000 members, \(name)",
            configuration: .init(
                metrics: metrics,
                warmupIterations: 3,
                scalingFactor: scaling,
                maxDuration: .seconds(3),
                maxIterations: 300,
                setup: { try await fanOut.start() },
                teardown: { await fanOut.stop() }
            )
        ) { benchmark in
            measuringCPU(benchmark) {
                do {
                    try fanOut.broadcastAndDrain()
                } catch {
                    benchmark.error("fan-out failed: \(error)")
                }
            }
        }
    }

    // 4. Inbound frames: unmask, UTF-8 check, message out.

    Benchmark("InboundMessageAssembler.receive 100 B masked text") { benchmark in
        var assembler = InboundMessageAssembler(maxMessageSize: 64 * 1024)
        let frame = Fixtures.maskedTextFrame
        measuringCPU(benchmark) {
            for _ in benchmark.scaledIterations {
                guard case .message = blackHoleReturn(assembler.receive(frame)) else {
                    benchmark.error("frame was not assembled into a message")
                    return
                }
            }
        }
    }

    // 5. UTF-8 validation of a 4 KiB text message: as the read path does it (inside the
    // assembler, where `feed` is specialized), and as a caller outside the module does.

    Benchmark("InboundMessageAssembler.receive 4 KiB masked text (mixed UTF-8)") { benchmark in
        var assembler = InboundMessageAssembler(maxMessageSize: 64 * 1024)
        let frame = Fixtures.maskedText4KFrame
        measuringCPU(benchmark) {
            for _ in benchmark.scaledIterations {
                guard case .message = blackHoleReturn(assembler.receive(frame)) else {
                    benchmark.error("frame was not assembled into a message")
                    return
                }
            }
        }
    }

    for (name, text) in [("ASCII", Fixtures.asciiText4K), ("mixed", Fixtures.mixedText4K)] {
        Benchmark("UTF8Validator.feed 4 KiB \(name), called from outside the module") { benchmark in
            measuringCPU(benchmark) {
                for _ in benchmark.scaledIterations {
                    var validator = UTF8Validator()
                    let valid = validator.feed(text.readableBytesView) && validator.isComplete
                    blackHole(valid)
                }
            }
        }
    }

    // 5. The connect path: login, ticket redeem, join ack.
    connectPathBenchmarks()
}

/// The process's CPU time (all threads) over the measured work, from
/// `CLOCK_PROCESS_CPUTIME_ID`: `cpuTotal` on Linux counts scheduler ticks (10 ms), too coarse
/// for iterations of a few milliseconds.
let processCPU = BenchmarkMetric.custom("CPU process clock (ns)", polarity: .prefersSmaller, useScalingFactor: true)

func measuringCPU(_ benchmark: Benchmark, _ body: () -> Void) {
    let start = processCPUNanoseconds()
    body()
    benchmark.measurement(processCPU, processCPUNanoseconds() - start)
}

func processCPUNanoseconds() -> Int {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return time.tv_sec * 1_000_000_000 + time.tv_nsec
}

/// `blackHole` for a value that is also used afterwards.
@inline(never)
func blackHoleReturn<T>(_ value: T) -> T {
    blackHole(value)
    return value
}
