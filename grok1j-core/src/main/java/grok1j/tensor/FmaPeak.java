package grok1j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Arithmetic peak probe: float32 vector FMAs in ten independent chains (enough to cover the FMA latency on every
 * current x86 core), on every thread of a pool, nothing read from memory. It is the ceiling for the prefill GEMM,
 * which must run float32 FMAs over the exact weights (spec §3); {@code grok1j bench} reports prefill as a fraction
 * of it, measured in the same run, because a shared VM's clock and neighbours move absolute numbers.
 */
public final class FmaPeak implements ThreadPool.Job {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int CHAINS = 10;

    private final long iterations;
    private final float[] partial;
    private volatile float sink;

    /** @param iterations loop trips per thread per pass (each trip is {@code 10} vector FMAs) */
    public FmaPeak(long iterations, int threads) {
        this.iterations = iterations;
        this.partial = new float[threads * 16];
    }

    /** Floating-point operations one thread performs per pass (2 per FMA lane). */
    public long flopsPerThread() {
        return iterations * CHAINS * F.length() * 2L;
    }

    static float chains(long iterations) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f), c = FloatVector.broadcast(F, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(F, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
        FloatVector a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        for (long i = 0; i < iterations; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c); a4 = a4.fma(m, c);
            a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c); a8 = a8.fma(m, c); a9 = a9.fma(m, c);
        }
        return a0.add(a1).add(a2.add(a3)).add(a4.add(a5)).add(a6.add(a7)).add(a8.add(a9)).reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void run(int part, int parts) {
        partial[part * 16] = chains(iterations);
    }

    /** Runs {@code passes} timed passes on {@code pool} (after a warm-up) and returns each one's GFLOP/s, all threads. */
    public double[] measure(ThreadPool pool, int passes) {
        float s = 0;
        for (int i = 0; i < 200; i++) {
            s += chains(100_000); // C2 code before the timed passes
        }
        sink = s;
        double[] gflops = new double[passes];
        for (int p = 0; p < passes; p++) {
            long t0 = System.nanoTime();
            pool.run(this);
            long dt = System.nanoTime() - t0;
            gflops[p] = (double) flopsPerThread() * pool.threads() / dt;
            sink += partial[0];
        }
        return gflops;
    }
}
