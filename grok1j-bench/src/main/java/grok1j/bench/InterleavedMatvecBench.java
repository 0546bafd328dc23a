package grok1j.bench;

import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import grok1j.tensor.InterleavedQ4_KMatrix;
import grok1j.tensor.InterleavedQ6_KMatrix;
import grok1j.tensor.InterleavedQ8_0Matrix;
import grok1j.tensor.Kernels;
import grok1j.tensor.MemoryBandwidth;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * Decode matvec of the expert layouts a GGUF model is copied into at open ({@link InterleavedQ8_0Matrix},
 * {@link InterleavedQ6_KMatrix}, {@link InterleavedQ4_KMatrix}; {@code layout=interleaved}) against the same
 * matrix in the file's rows ({@code layout=file}, the {@code GgmlMatvec} kernels) and against the memory probe
 * ({@link MemoryBandwidth}) over a buffer of the copy's size in the same fork. Shapes as {@link GgufMatvecBench}:
 * {@code cache} = 64 rows of 6144, {@code dram} = 32768 rows of 6144 (a Grok-1 expert's gate or up projection). Read
 * {@code vector} as a fraction of {@code bandwidth} (time ratio, same threads; the copy reads more bytes than the
 * file's rows, the probe as many as the copy). Q6_K is copied with 512-bit vectors only: with 256-bit ones
 * ({@link InterleavedMatvecBench256}) its {@code interleaved} trial refuses to start.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class InterleavedMatvecBench {
    @Param({"Q8_0", "Q4_K", "Q6_K"})
    String type;

    @Param({"interleaved", "file"})
    String layout;

    @Param({"cache", "dram"})
    String shape;

    @Param({"1", "2"})
    int threads;

    static final int K = 6144;

    Arena arena;
    ThreadPool pool;
    WeightMatrix w;
    MemoryBandwidth probe;
    float[] x;
    float[] y;

    @Setup(Level.Trial)
    public void setup() {
        GgmlType t = GgmlType.valueOf(type);
        int n = shape.equals("cache") ? 64 : 32768;
        arena = Arena.ofShared();
        pool = new ThreadPool(threads);
        GgufMatrix rows = GgufMatvecBench.random(arena, t, K, n, 1);
        w = layout.equals("file") ? rows : switch (t) {
            case Q8_0 -> InterleavedQ8_0Matrix.repack(rows, arena);
            case Q4_K -> InterleavedQ4_KMatrix.repack(rows, arena);
            case Q6_K -> {
                if (!InterleavedQ6_KMatrix.supported()) {
                    throw new IllegalStateException("the Q6_K copy is made with 512-bit vectors only");
                }
                yield InterleavedQ6_KMatrix.repack(rows, arena);
            }
            default -> throw new IllegalArgumentException(type);
        };
        long copyBytes = switch (t) {
            case Q8_0 -> InterleavedQ8_0Matrix.storedBytes(rows);
            case Q4_K -> InterleavedQ4_KMatrix.storedBytes(rows);
            default -> InterleavedQ6_KMatrix.storedBytes(rows);
        };
        MemorySegment buffer = arena.allocate(copyBytes, 4096);
        buffer.fill((byte) 1);
        probe = new MemoryBandwidth(buffer, threads);
        x = Weights.floats(K, 2);
        y = new float[n];
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

    /** The copy's bytes read by the bandwidth probe. */
    @Benchmark
    public void bandwidth() {
        pool.run(probe);
    }
}
