package grok1j.bench;

import grok1j.tensor.FmaPeak;
import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * GGUF prefill GEMM ({@code GgufPanelGemm} through {@link GgufMatrix#multiplyBatch}, which takes it for every token
 * count: 1 and 8 tokens are a prompt's last row and a short remainder after a prefix-cache hit), one thread: 6144
 * inputs x 2048 outputs x {@code tokens} tokens, per type, against the FMA probe ({@link FmaPeak}) running the same
 * number of floating-point operations in the same fork. {@code fmaProbe} time / {@code gemm} time = fraction of the FMA peak.
 * On a loaded machine read {@code interleaved} instead: it alternates probe and GEMM within each operation and reports
 * their summed times as the counters {@code probeMicros} and {@code gemmMicros} (fraction = probe / gemm).
 * The scalar reference (one dot per row and token, the path before the GEMM) runs with {@code tokens = 128} only.
 *
 * <p>This class runs at the machine's vector width; {@link GgufGemmAvx2Bench} runs the same benchmarks with
 * {@code -XX:UseAVX=2}, which makes an AVX-512 machine behave like an AVX2 one (256-bit vectors, 16 vector
 * registers; the kernels and the probe pick 8-lane vectors).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class GgufGemmBench {
    static final int K = 6144;
    static final int N = 2048;

    @Param({"Q8_0", "Q4_K", "Q6_K", "F16", "BF16", "F32", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K"})
    String type;

    @Param({"1", "8", "128", "512"})
    int tokens;

    Arena arena;
    GgufMatrix w;
    float[] x;
    float[] y;
    FmaPeak probe;

    @Setup(Level.Trial)
    public void setup() {
        GgmlType t = GgmlType.parse(type);
        arena = Arena.ofShared();
        // C2 code for the kernels before the large matrix is timed (kernels.md §4.3)
        GgufMatrix small = Weights.gguf(arena, t, 512, 256, 5);
        float[] xs = Weights.floats(512 * tokens, 6);
        float[] ys = new float[256 * tokens];
        for (int i = 0; i < 200; i++) {
            small.multiplyBatch(xs, tokens, ys, 0, 256);
        }
        w = Weights.gguf(arena, t, K, N, 3);
        x = Weights.floats(K * tokens, 4);
        y = new float[N * tokens];
        long flops = 2L * K * N * tokens;
        long flopsPerTrip = 10L * FloatVector.SPECIES_PREFERRED.length() * 2;
        probe = new FmaPeak(flops / flopsPerTrip, 1);
        // the probe's loop compiled as a method, not only as an on-stack replacement of one long first call
        FmaPeak warm = new FmaPeak(100_000, 1);
        for (int i = 0; i < 200; i++) {
            warm.run(0, 1);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void gemm(Blackhole bh) {
        w.multiplyBatch(x, tokens, y, 0, N);
        bh.consume(y);
    }

    /** The FMA probe for as many floating-point operations as {@link #gemm}. */
    @Benchmark
    public void fmaProbe() {
        probe.run(0, 1);
    }

    /** Time of the probe and of the GEMM, run alternately (see {@link #interleaved}). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Split {
        public long probeMicros;
        public long gemmMicros;
    }

    /** The probe, then the GEMM, in one operation: the machine's load changes by the second, so their ratio holds. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    public void interleaved(Split split, Blackhole bh) {
        long t0 = System.nanoTime();
        probe.run(0, 1);
        long t1 = System.nanoTime();
        w.multiplyBatch(x, tokens, y, 0, N);
        long t2 = System.nanoTime();
        split.probeMicros += (t1 - t0) / 1000;
        split.gemmMicros += (t2 - t1) / 1000;
        bh.consume(y);
    }

    /** One dot per (row, token): what GGUF prefill ran before the GEMM; 128 tokens only (it is slow). */
    @Benchmark
    public void scalar(Blackhole bh) {
        if (tokens == 128) {
            float[] row = new float[K];
            for (int c = 0; c < N; c++) {
                w.dequantizeRow(c, row, 0);
                for (int t = 0; t < tokens; t++) {
                    float s = 0;
                    for (int i = 0; i < K; i++) {
                        s += row[i] * x[t * K + i];
                    }
                    y[t * N + c] = s;
                }
            }
        }
        bh.consume(y);
    }
}
