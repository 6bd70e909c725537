#if canImport(Glibc)
import Glibc
#endif

/// Hands the heap's free pages back to the system (glibc's `malloc_trim`).
///
/// glibc returns freed memory to the system only from the top of an arena. A connect storm
/// peaks the heap with the tasks of its in-flight HTTP and upgrade requests (Hummingbird's
/// task per connection, its responder chain; ~3 KiB each in a debug build), which are freed
/// a moment later but lie under memory that lives on (connections, history), so without a
/// trim each storm that peaks higher than the last raises the RSS for good. `malloc_trim`
/// releases the whole free pages inside the arenas as well.
///
/// Looked up at run time: Swift's Glibc module does not declare it, and other C libraries
/// (musl, Darwin) have none, where `trim()` does nothing and `isAvailable` is false.
enum HeapTrimmer {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let function: Trim? = {
        #if canImport(Glibc)
        let everywhere = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        // Under a sanitizer (ThreadSanitizer in scripts/test) malloc is the sanitizer's own
        // allocator, and glibc's trim would walk arenas that hold next to nothing.
        guard dlsym(everywhere, "__sanitizer_get_heap_size") == nil,
            let symbol = dlsym(everywhere, "malloc_trim")
        else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    static var isAvailable: Bool { function != nil }

    /// Whether any memory went back to the system.
    @discardableResult
    static func trim() -> Bool {
        guard let function else { return false }
        // 0: keep no padding at the top of the main arena.
        return function(0) == 1
    }
}
