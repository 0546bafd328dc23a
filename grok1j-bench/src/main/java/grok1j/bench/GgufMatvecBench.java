package grok1j.bench;

import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import grok1j.tensor.Kernels;
import grok1j.tensor.MemoryBandwidth;
import grok1j.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
 * GGUF decode matvec ({@link GgufMatrix} with one token, the {@code GgmlMatvec} kernels) for each supported
 * quantized type and F16/BF16 (the tied output projection of Grok-1 GGUFs is F16), against the memory probe ({@link MemoryBandwidth}) reading a buffer of the same size in the same
 * fork, and against the scalar path (dequantize a row with {@code GgmlDequant}, then a plain float loop). Shapes:
 * {@code cache} = 64 rows of 6144 (at most 432 KB: the compute ceiling) and {@code dram} = 32768 rows of 6144 (a
 * Grok-1 expert's gate or up projection, 108-214 MB). Read {@code vector} as a fraction of {@code bandwidth}
 * (time ratio, same threads). This class runs the machine's widest vectors; {@link GgufMatvecBench256} the same
 * benchmarks with 256-bit vectors (the AVX2 code).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class GgufMatvecBench {
    @Param({"Q8_0", "Q4_K", "Q6_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K", "F16", "BF16"})
    String type;

    @Param({"cache", "dram"})
    String shape;

    @Param({"1", "2"})
    int threads;

    static final int K = 6144;

    Arena arena;
    ThreadPool pool;
    GgufMatrix w;
    MemoryBandwidth probe;
    float[] x;
    float[] y;
    float[] row;

    @Setup(Level.Trial)
    public void setup() {
        GgmlType t = GgmlType.valueOf(type);
        int n = shape.equals("cache") ? 64 : 32768;
        arena = Arena.ofShared();
        pool = new ThreadPool(threads);
        w = random(arena, t, K, n, 1);
        MemorySegment buffer = arena.allocate(w.storedBytes(), 4096);
        buffer.fill((byte) 1);
        probe = new MemoryBandwidth(buffer, threads);
        x = Weights.floats(K, 2);
        y = new float[n];
        row = new float[K];
    }

    /**
     * {@code n} rows of random blocks whose fp16 scale fields hold small normal values (random bits would give
     * infinities and NaNs, and subnormal arithmetic is slow on some CPUs).
     */
    static GgufMatrix random(Arena arena, GgmlType t, int k, int n, long seed) {
        long bytes = t.bytesFor(k) * n;
        MemorySegment seg = arena.allocate(bytes, 64);
        Random r = new Random(seed);
        byte[] chunk = new byte[1 << 16];
        for (long o = 0; o < bytes; o += chunk.length) {
            r.nextBytes(chunk);
            MemorySegment.copy(chunk, 0, seg, ValueLayout.JAVA_BYTE, o, (int) Math.min(chunk.length, bytes - o));
        }
        int[] halves = switch (t) {
            case Q8_0, Q4_0, Q5_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
        if (t == GgmlType.F16 || t == GgmlType.BF16) {
            // every 16-bit value a normal number of magnitude about 2^-7 with a random sign and mantissa
            long keep = t == GgmlType.F16 ? 0x87FF87FF87FF87FFL : 0x80FF80FF80FF80FFL;
            long set = t == GgmlType.F16 ? 0x2000200020002000L : 0x3C003C003C003C00L;
            for (long o = 0; o + 8 <= bytes; o += 8) {
                seg.set(ValueLayout.JAVA_LONG_UNALIGNED, o, (seg.get(ValueLayout.JAVA_LONG_UNALIGNED, o) & keep) | set);
            }
        }
        for (long o = 0; o < bytes; o += t.typeSize()) {
            for (int h : halves) {
                seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, o + h, (short) (0x2000 + r.nextInt(0x400)));
            }
        }
        return new GgufMatrix(t, seg, k, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    @Benchmark
    public void vector(Blackhole bh) {
        Kernels.matmul(pool, w, x, 1, y);
        bh.consume(y);
    }

    /** The same number of bytes read by the bandwidth probe: the ceiling for {@link #vector}. */
    @Benchmark
    public void bandwidth() {
        pool.run(probe);
    }

    /** Dequantize each row, then a plain float loop (the path the other types had before they got kernels). */
    @Benchmark
    public void scalar(Blackhole bh) {
        if (threads == 1 && shape.equals("cache")) { // too slow to repeat at DRAM size
            for (int c = 0; c < w.outputDim(); c++) {
                w.dequantizeRow(c, row, 0);
                float s = 0;
                for (int i = 0; i < K; i++) {
                    s += row[i] * x[i];
                }
                y[c] = s;
            }
        }
        bh.consume(y);
    }
}
