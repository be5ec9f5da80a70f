/// Runs async jobs one at a time, in the order they were given (the retention job's passes),
/// without a thread of their own.
final class SerialWorker: Sendable {
    typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>.Continuation

    init() {
        let (stream, jobs) = AsyncStream.makeStream(of: Job.self)
        self.jobs = jobs
        Task {
            for await job in stream { await job() }
        }
    }

    deinit {
        jobs.finish()
    }

    /// Runs `job` after every job given before it, without waiting for it.
    func async(_ job: @escaping Job) {
        jobs.yield(job)
    }

    /// Runs `body` after every job given before it, and returns what it returns.
    func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await withCheckedContinuation { continuation in
            jobs.yield { continuation.resume(returning: await body()) }
        }
    }
}
