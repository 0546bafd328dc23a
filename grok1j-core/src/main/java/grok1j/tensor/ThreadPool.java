package grok1j.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Persistent compute threads for kernels: the calling thread plus {@code threads - 1} workers that wait on an epoch
 * counter, spinning briefly and then parking (spec kernels.md §4.5: a fork/join round trip costs ~40 µs, an epoch
 * handoff to a spinning worker ~0.1 µs). One job runs at a time; {@link #run} is not reentrant and must be called
 * from one thread at a time (it is synchronized).
 *
 * <p>A job is split into {@code threads} parts; part {@code i} is run by thread {@code i} (the caller runs part 0).
 */
public final class ThreadPool implements AutoCloseable {

    /** A unit of parallel work: part {@code part} of {@code parts}. Must not throw checked exceptions. */
    @FunctionalInterface
    public interface Job {
        void run(int part, int parts);
    }

    private static final long SPIN_NANOS = 50_000;

    private final int threads;
    private final Thread[] workers;
    private volatile Job job;
    private volatile long epoch;
    private final AtomicInteger remaining = new AtomicInteger();
    private volatile Thread caller;
    private volatile RuntimeException failure;
    private volatile boolean closed;
    private final MatmulList matmuls = new MatmulList();

    private static ThreadPool shared;

    /** @param threads total compute threads including the caller, at least 1 */
    public ThreadPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            int part = i + 1;
            Thread t = new Thread(() -> workLoop(part), "grok1j-compute-" + part);
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** The process-wide pool, sized to the available processors (or {@code -Dgrok1j.threads=N}). */
    public static synchronized ThreadPool shared() {
        if (shared == null) {
            int n = Integer.getInteger("grok1j.threads", Runtime.getRuntime().availableProcessors());
            shared = new ThreadPool(Math.max(1, n));
        }
        return shared;
    }

    public int threads() {
        return threads;
    }

    /** A work list for one-off products ({@link Kernels#matmul}); use only while holding this pool's monitor. */
    MatmulList matmuls() {
        return matmuls;
    }

    /** Runs {@code job} on all threads and returns when every part has finished. */
    public synchronized void run(Job job) {
        if (threads == 1) {
            job.run(0, 1);
            return;
        }
        if (closed) {
            throw new IllegalStateException("thread pool is closed");
        }
        failure = null;
        caller = Thread.currentThread();
        remaining.set(threads - 1);
        this.job = job;
        epoch++; // publishes job (volatile write after the job write)
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        RuntimeException own = null;
        try {
            job.run(0, threads);
        } catch (RuntimeException | Error e) {
            own = e instanceof RuntimeException re ? re : new RuntimeException(e);
        }
        long start = System.nanoTime();
        while (remaining.get() > 0) {
            if (System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 100_000);
            }
        }
        this.job = null;
        if (own != null) {
            throw own;
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void workLoop(int part) {
        long seen = 0;
        while (true) {
            long start = System.nanoTime();
            while (epoch == seen) {
                if (closed) {
                    return;
                }
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(this, 1_000_000);
                }
            }
            seen = epoch;
            Job j = job;
            try {
                if (j != null) {
                    j.run(part, threads);
                }
            } catch (Throwable e) {
                failure = e instanceof RuntimeException re ? re : new RuntimeException(e);
            } finally {
                if (remaining.decrementAndGet() == 0) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
