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
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setstacksize(&attributes, bytes) == 0 else { return nil }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(job as AnyObject).toOpaque()
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
        pthread_join(thread, nil)
        return job.result
    }

    /// Calls `body(0)` ... `body(count - 1)` on `count` new threads at once, each
    /// with `bytes` of stack, and waits for all; false when a thread could not be
    /// made (those that were made still ran).
    static func runConcurrently(count: Int, bytes: Int, _ body: @escaping (Int) -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setstacksize(&attributes, bytes) == 0 else { return false }
        var threads: [pthread_t] = []
        var allStarted = true
        for number in 0..<count {
            let context = Unmanaged.passRetained(Job { body(number) } as AnyObject).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, &attributes,
                { raw in
                    let job = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Runnable
                    job.runOnce()
                    return nil
                }, context)
            if rc == 0 {
                threads.append(thread)
            } else {
                Unmanaged<AnyObject>.fromOpaque(context).release()
                allStarted = false
            }
        }
        for thread in threads { pthread_join(thread, nil) }
        return allStarted
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
