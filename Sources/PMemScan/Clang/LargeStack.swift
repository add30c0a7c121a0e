import Foundation

/// Runs work on a thread of its own with a large stack.
///
/// libclang's parser, its record layout and PMemScan's own walks recurse
/// once per level of nesting in the input; a file deep enough (100,000
/// unary minus signs, a chain of 100,000 structs each holding the previous)
/// overflows a thread's usual 8 MiB and the process dies with SIGSEGV, no
/// message. The stack reserved here is address space, not memory: only the
/// pages a deep input actually reaches are ever touched.
enum LargeStack {
    /// Calls `body` on a new thread with `bytes` of stack and returns what it
    /// returned; `nil` when no such thread could be made.
    static func run<T>(bytes: Int, _ body: @escaping () -> T) -> T? {
        let job = Job(body)
        guard let thread = withStackAttributes(bytes: bytes, { start(job, &$0) }) ?? nil else { return nil }
        pthread_join(thread, nil)
        return job.result
    }

    /// Calls `body(0)` ... `body(count - 1)` on `count` new threads at once, each
    /// with `bytes` of stack, and waits for all; false when a thread could not be
    /// made (those that were made still ran).
    static func runConcurrently(count: Int, bytes: Int, _ body: @escaping (Int) -> Void) -> Bool {
        guard
            let threads = withStackAttributes(
                bytes: bytes,
                { attributes in (0..<count).map { number in start(Job { body(number) }, &attributes) } })
        else { return false }
        for case let thread? in threads { pthread_join(thread, nil) }
        return !threads.contains { $0 == nil }
    }

    /// `body` with thread attributes for a `bytes` stack; nil when that size is refused.
    private static func withStackAttributes<R>(bytes: Int, _ body: (inout pthread_attr_t) -> R) -> R? {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setstacksize(&attributes, bytes) == 0 else { return nil }
        return body(&attributes)
    }

    /// Starts a thread running `job`; nil when it could not be made.
    private static func start(_ job: Runnable, _ attributes: inout pthread_attr_t) -> pthread_t? {
        let context = Unmanaged.passRetained(job as AnyObject).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                let job = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Runnable
                job.runOnce()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            return nil
        }
        return thread
    }

    /// What the new thread runs, type-erased for its C entry point.
    private protocol Runnable: AnyObject {
        func runOnce()
    }

    /// The body and, once it ran, its result.
    private final class Job<T>: Runnable, @unchecked Sendable {
        let body: () -> T
        var result: T?
        init(_ body: @escaping () -> T) { self.body = body }
        func runOnce() { result = body() }
    }
}
