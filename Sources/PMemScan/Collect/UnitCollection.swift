import Foundation

/// One translation unit's contribution to an analysis.
struct CollectedUnit {
    /// Its facts, collected on their own (`FactBase.absorb` merges them in job order).
    var facts: FactBase
    /// Its parse errors.
    var diagnostics: [Diagnostic]
    /// The lines of its source file.
    var lines: Int
}

/// Parses units and collects their facts on several threads at once.
///
/// Each thread has its own libclang index (libclang's rule: a unit and its index
/// are used by one thread at a time) and each unit its own collector, so what a
/// unit yields does not depend on which thread took it or what ran before; the
/// caller merges the results in job order, which makes the report the same for
/// any thread count. System headers shared by several units come from one
/// precompiled header (`SharedSystemHeaders`).
enum UnitCollection {
    /// Parses every job (and, with `collectFacts`, walks it) on up to `threads`
    /// threads with `stackBytes` of stack each; returns the units in job order,
    /// or throws the first job's error in job order.
    static func run(
        jobs: [CompileJob], threads: Int, precompileSystemHeaders: Bool, collectFacts: Bool, stackBytes: Int,
        timing: AnalysisTiming = AnalysisTiming()
    ) throws(ScanError) -> [CollectedUnit] {
        ClangIndex.prepareEnvironment()
        let shared = timing.measure("plan-pch") {
            precompileSystemHeaders ? SharedSystemHeaders(jobs: jobs) : nil
        }
        let queue = WorkQueue(count: jobs.count)
        let worker = { (_: Int) in
            let index = ClangIndex()
            while let number = queue.next() {
                let job = jobs[number]
                let arguments =
                    job.arguments
                    + (timing.measure("pch") { shared?.arguments(forJob: number, index: index) } ?? [])
                do throws(ScanError) {
                    // Before libclang recurses into it; on the workers, as it reads every byte.
                    if collectFacts {
                        try timing.measure("nesting") { () throws(ScanError) in
                            try PersistenceAnalyzer.checkNesting(job.file)
                        }
                    }
                    let unit = try timing.measure("parse") { () throws(ScanError) in
                        try TranslationUnit(index: index, path: job.file, arguments: arguments)
                    }
                    let collector = FactCollector()
                    if collectFacts { timing.measure("walk") { collector.collect(unit) } }
                    queue.finish(
                        number,
                        .success(
                            CollectedUnit(
                                facts: collector.facts, diagnostics: unit.errors,
                                lines: PersistenceAnalyzer.lineCount(job.file))))
                } catch {
                    queue.finish(number, .failure(error))
                }
            }
        }
        let count = max(1, min(threads, jobs.count))
        // This thread (the analysis thread, with the same stack) takes whatever
        // is left when threads could not be started, or when one is enough.
        if count == 1 || !LargeStack.runConcurrently(count: count, bytes: stackBytes, worker) {
            worker(0)
        }
        return try queue.results(stackBytes: stackBytes)
    }

    /// The jobs not yet taken, and what each finished one gave; shared by the threads.
    private final class WorkQueue: @unchecked Sendable {
        private let lock = NSLock()
        private var nextJob = 0
        private var outcomes: [Result<CollectedUnit, ScanError>?]

        init(count: Int) { outcomes = Array(repeating: nil, count: count) }

        /// The next job to take, or nil when all are taken.
        func next() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard nextJob < outcomes.count else { return nil }
            nextJob += 1
            return nextJob - 1
        }

        func finish(_ job: Int, _ outcome: Result<CollectedUnit, ScanError>) {
            lock.lock()
            defer { lock.unlock() }
            outcomes[job] = outcome
        }

        /// Every unit in job order. A file nested too deep is reported before any
        /// other failure (every file is checked before it is parsed); otherwise the
        /// first failure in job order is thrown.
        func results(stackBytes: Int) throws(ScanError) -> [CollectedUnit] {
            for case .failure(let error)? in outcomes {
                if case .nestedTooDeep = error { throw error }
            }
            var units: [CollectedUnit] = []
            for outcome in outcomes {
                // Every job is taken before the workers return; a gap would mean none ran.
                guard let outcome else { throw .noAnalysisThread(stackBytes: stackBytes) }
                units.append(try outcome.get())
            }
            return units
        }
    }
}
