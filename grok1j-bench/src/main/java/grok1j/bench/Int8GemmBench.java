package grok1j.bench;

import grok1j.tensor.Int8GroupedMatrix;
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
 * Prefill GEMM of the official int8 format (dequantized panels, register tile): 2048 x 6144 weights times
 * {@code tokens} tokens; GFLOP/s = 2 * 2048 * 6144 * tokens / time. The scalar reference runs with 8 tokens only.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class Int8GemmBench {
    @Param({"8", "64"})
    int tokens;

    @Param({"1", "2"})
    int threads;

    Arena arena;
    ThreadPool pool;
    Int8GroupedMatrix w;
    float[] x;
    float[] y;

    @Setup(Level.Trial)
    public void setup() {
        Weights.warmInt8(tokens);
        arena = Arena.ofShared();
        pool = new ThreadPool(threads);
        w = Weights.int8(arena, 2048, 6144, 8, 3);
        x = Weights.floats(2048 * tokens, 4);
        y = new float[6144 * tokens];
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

    @Benchmark
    public void scalar(Blackhole bh) {
        if (tokens == 8 && threads == 1) {
            w.multiplyScalar(x, tokens, y, 0, w.outputDim());
        }
        bh.consume(y);
    }
}
