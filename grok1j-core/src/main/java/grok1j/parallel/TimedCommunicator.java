package grok1j.parallel;

import java.util.Arrays;

/**
 * A {@link Communicator} that times every {@link #allReduceSum} of the one it wraps: wall time in nanoseconds into a
 * preallocated ring of the last {@code capacity} calls (no allocation per call), plus the count and the total over
 * the whole run. For {@code grok1j bench} under mpirun: the all-reduce latency (median, p90) and the share of a
 * decode step spent communicating. Other collectives are passed through untimed.
 *
 * <p>Recording is not thread-safe; collectives are made from one thread anyway.
 */
public final class TimedCommunicator implements Communicator {
    private final Communicator inner;
    private final long[] ring;
    private long calls;
    private long totalNanos;

    /** Keeps the last 65,536 timings. */
    public TimedCommunicator(Communicator inner) {
        this(inner, 1 << 16);
    }

    /** @throws IllegalArgumentException if {@code capacity < 1} */
    public TimedCommunicator(Communicator inner, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be at least 1, got " + capacity);
        }
        this.inner = inner;
        this.ring = new long[capacity];
    }

    /** The communicator this one times. */
    public Communicator inner() {
        return inner;
    }

    @Override
    public void allReduceSum(float[] data, int offset, int count) {
        long start = System.nanoTime();
        inner.allReduceSum(data, offset, count);
        long t = System.nanoTime() - start;
        ring[(int) (calls % ring.length)] = t;
        calls++;
        totalNanos += t;
    }

    /** All-reduces since creation or the last {@link #reset()}. */
    public long allReduceCount() {
        return calls;
    }

    /** Their total wall time, nanoseconds. */
    public long allReduceTotalNanos() {
        return totalNanos;
    }

    /** Median wall time of the recorded (last {@code capacity}) all-reduces, nanoseconds; 0 if none. */
    public long allReduceMedianNanos() {
        return percentile(0.5);
    }

    /** 90th percentile of the recorded all-reduces, nanoseconds; 0 if none. */
    public long allReduceP90Nanos() {
        return percentile(0.9);
    }

    /**
     * The {@code q} quantile (nearest rank, {@code 0 < q <= 1}) of the recorded all-reduce times, nanoseconds; 0 if
     * none. Sorts a copy: call it when reporting, not per step.
     */
    public long percentile(double q) {
        if (!(q > 0 && q <= 1)) {
            throw new IllegalArgumentException("quantile must be in (0, 1], got " + q);
        }
        int n = (int) Math.min(calls, ring.length);
        if (n == 0) {
            return 0;
        }
        long[] sorted = Arrays.copyOf(ring, n);
        Arrays.sort(sorted);
        return sorted[(int) Math.ceil(q * n) - 1];
    }

    /** Forgets every timing (e.g. after warm-up). */
    public void reset() {
        calls = 0;
        totalNanos = 0;
    }

    @Override public int rank() { return inner.rank(); }
    @Override public int size() { return inner.size(); }
    @Override public String hostName() { return inner.hostName(); }

    @Override
    public void broadcast(int[] data, int offset, int count, int root) {
        inner.broadcast(data, offset, count, root);
    }

    @Override
    public void broadcast(byte[] data, int offset, int count, int root) {
        inner.broadcast(data, offset, count, root);
    }

    @Override
    public void gather(float[] send, int sendOffset, int count, float[] recv, int recvOffset, int root) {
        inner.gather(send, sendOffset, count, recv, recvOffset, root);
    }

    @Override
    public void gather(byte[] send, int sendOffset, int count, byte[] recv, int recvOffset, int root) {
        inner.gather(send, sendOffset, count, recv, recvOffset, root);
    }

    @Override public void barrier() { inner.barrier(); }
    @Override public void close() { inner.close(); }
}
