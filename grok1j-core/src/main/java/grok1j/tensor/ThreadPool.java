package grok1j.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Persistent compute threads for kernels: the calling thread plus {@code threads - 1} workers that wait on an epoch
 * counter, spinning briefly and then parking (spec kernels.md §4.5: a fork/join round trip costs ~40 µs, an epoch
 * handoff to a spinning worker ~0.1 µs). One job runs at a time; {@link #run} is not reentrant and must be called
 * from one thread at a time (it is synchronized).
 *
 * <p>A job is split into parts (by default one per thread); every part runs exactly once, on whichever thread
 * claims it first (see {@link #run(Job, int)}).
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
    private volatile int parts;
    private volatile boolean jobClosed = true;
    private volatile long epoch;
    private final AtomicInteger nextPart = new AtomicInteger();
    private final AtomicInteger active = new AtomicInteger();
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
            Thread t = new Thread(this::workLoop, "grok1j-compute-" + (i + 1));
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

    /** Runs {@code job} split into {@link #threads()} parts and returns when every part has finished. */
    public synchronized void run(Job job) {
        run(job, threads);
    }

    /**
     * Runs {@code job} split into {@code parts} parts, each exactly once, and returns when all have finished.
     *
     * <p>Parts are claimed from a shared counter by the caller and by whichever workers wake up in time; a worker
     * that has not started when the caller runs out of parts is shut out of this job, so the caller never waits
     * for a thread the scheduler has not run (on a busy machine that costs a 4-8 ms quantum, kernels.md §4.5). It
     * waits only for parts already being computed. More parts than threads balance the load further.
     */
    public synchronized void run(Job job, int parts) {
        if (parts < 1) {
            throw new IllegalArgumentException("parts must be >= 1, got " + parts);
        }
        if (threads == 1 || parts == 1) {
            for (int p = 0; p < parts; p++) {
                job.run(p, parts);
            }
            return;
        }
        if (closed) {
            throw new IllegalStateException("thread pool is closed");
        }
        failure = null;
        caller = Thread.currentThread();
        nextPart.set(0);
        this.parts = parts;
        this.job = job;
        jobClosed = false;
        epoch++; // publishes job, parts and the open gate (volatile write after them)
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        RuntimeException own = null;
        try {
            drain(job, parts);
        } catch (RuntimeException | Error e) {
            own = e instanceof RuntimeException re ? re : new RuntimeException(e);
        }
        jobClosed = true; // late workers now skip this job
        long start = System.nanoTime();
        while (active.get() > 0) {
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

    private void drain(Job j, int n) {
        int p;
        while ((p = nextPart.getAndIncrement()) < n) {
            j.run(p, n);
        }
    }

    private void workLoop() {
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
            // join, then check the gate: the caller closes it before it reads `active`, so either it waits for
            // us or we see it closed (both are volatile: sequentially consistent)
            active.incrementAndGet();
            try {
                if (!jobClosed) {
                    Job j = job;
                    int n = parts;
                    if (j != null) {
                        drain(j, n);
                    }
                }
            } catch (Throwable e) {
                failure = e instanceof RuntimeException re ? re : new RuntimeException(e);
            } finally {
                if (active.decrementAndGet() == 0) {
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
