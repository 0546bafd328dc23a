package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Memory read bandwidth probe (kernels.md §1.1): a vectorized float sum over an off-heap buffer, split in
 * contiguous ranges across the pool's threads. 256-bit loads with four accumulators, the fastest read loop measured
 * on this machine kind (512-bit loads read slower, as in C).
 */
public final class MemoryBandwidth implements ThreadPool.Job {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final int CHUNK = 4 * 32; // bytes per unrolled step

    private final MemorySegment buffer;
    private final float[] partial;
    private volatile float sink;

    /** @param buffer the memory to read; its size is rounded down to a multiple of 128 bytes per thread */
    public MemoryBandwidth(MemorySegment buffer, int threads) {
        this.buffer = buffer;
        this.partial = new float[threads * 32]; // one 128-byte line per thread
    }

    /** Sums {@code [from, to)} of the buffer (bytes, multiples of 128). */
    static float sum(MemorySegment m, long from, long to) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (long o = from; o < to; o += CHUNK) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, m, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, m, o + 32, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, m, o + 64, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, m, o + 96, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void run(int part, int parts) {
        long lines = buffer.byteSize() / CHUNK;
        long from = lines * part / parts * CHUNK;
        long to = lines * (part + 1) / parts * CHUNK;
        partial[part * 32] = sum(buffer, from, to);
    }

    /**
     * Reads the whole buffer {@code passes} times on {@code pool} (after a warm-up on a small slice and one untimed
     * pass) and returns each pass's bandwidth in GB/s (10^9 bytes per second), in pass order.
     */
    public double[] measure(ThreadPool pool, int passes) {
        // warm the kernel up on a small slice first so the timed passes run C2 code (kernels.md §4.3)
        MemorySegment small = buffer.asSlice(0, Math.min(buffer.byteSize(), 1 << 20) / CHUNK * CHUNK);
        float s = 0;
        for (int i = 0; i < 2000; i++) {
            s += sum(small, 0, small.byteSize());
        }
        sink = s;
        pool.run(this);
        double[] gbs = new double[passes];
        for (int p = 0; p < passes; p++) {
            gbs[p] = pass(pool);
        }
        return gbs;
    }

    /** One timed read of the whole buffer (the kernel should be warm, see {@link #measure}); GB/s. */
    public double pass(ThreadPool pool) {
        long t0 = System.nanoTime();
        pool.run(this);
        long dt = System.nanoTime() - t0;
        float s = sink;
        for (int i = 0; i < partial.length; i += 32) {
            s += partial[i];
        }
        sink = s;
        return buffer.byteSize() / (double) dt;
    }

    /** The median of {@code v} (not modified). */
    public static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        int m = c.length / 2;
        return c.length % 2 == 1 ? c[m] : (c[m - 1] + c[m]) / 2;
    }
}
