package grok1j.bench;

import grok1j.tensor.BF16Matrix;
import grok1j.tensor.Kernels;
import grok1j.tensor.ThreadPool;
import java.lang.foreign.Arena;
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
 * Prefill of Grok-2's bf16 {@code [out, in]} weights ({@link BF16Matrix}, input blocked, 2 rows x 4 tokens tile):
 * 2048 x 8192 weights times {@code tokens} tokens; GFLOP/s = 2 * 2048 * 8192 * tokens / time. Compare with
 * {@code Int8GemmBench} and the FMA peak of {@code grok1j bench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class BF16GemmBench {
    @Param({"8", "64"})
    int tokens;

    @Param({"1", "2"})
    int threads;

    Arena arena;
    ThreadPool pool;
    BF16Matrix w;
    float[] x;
    float[] y;

    @Setup(Level.Trial)
    public void setup() {
        Weights.warmBf16(tokens);
        arena = Arena.ofShared();
        pool = new ThreadPool(threads);
        w = Weights.bf16(arena, 2048, 8192, 3);
        x = Weights.floats(8192 * tokens, 4);
        y = new float[2048 * tokens];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    @Benchmark
    public void vector(Blackhole bh) {
        Kernels.matmul(pool, w, x, tokens, y);
        bh.consume(y);
    }
}
