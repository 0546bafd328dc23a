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
 * Decode matvec of the official int8 {@code [in, out]} format: the vectorized kernel (on our pool with 1 or 2
 * threads) against the scalar reference. Shapes: {@code cache} = 256 x 4096 (1 MB, L2/L3: compute ceiling) and
 * {@code dram} = 8192 x 32768 (268 MB: memory-bound, compare with {@link BandwidthBench}). Bytes per op are the
 * weight bytes, so GB/s = bytes / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class Int8MatvecBench {
    @Param({"cache", "dram"})
    String shape;

    @Param({"1", "2"})
    int threads;

    @Param({"1", "8"})
    int groups;

    Arena arena;
    ThreadPool pool;
    Int8GroupedMatrix w;
    float[] x;
    float[] y;

    @Setup(Level.Trial)
    public void setup() {
        int k = shape.equals("cache") ? 256 : 8192;
        int n = shape.equals("cache") ? 4096 : 32768;
        Weights.warmInt8(1);
        arena = Arena.ofShared();
        pool = new ThreadPool(threads);
        w = Weights.int8(arena, k, n, groups, 1);
        x = Weights.floats(k, 2);
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

    @Benchmark
    public void scalar(Blackhole bh) {
        if (threads == 1 && shape.equals("cache")) { // the scalar code is too slow to repeat at DRAM size
            w.multiplyScalar(x, 1, y, 0, w.outputDim());
        }
        bh.consume(y);
    }
}
