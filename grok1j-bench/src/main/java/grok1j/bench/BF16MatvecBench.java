package grok1j.bench;

import grok1j.tensor.BF16Matrix;
import grok1j.tensor.Kernels;
import grok1j.tensor.MemoryBandwidth;
import grok1j.tensor.ThreadPool;
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
 * Decode matvec of Grok-2's bf16 {@code [out, in]} weights ({@link BF16Matrix}) for 1 token and for 4 tokens sharing
 * each weight read, against the memory probe ({@link MemoryBandwidth}) reading a buffer of the same size in the same
 * fork, and against the scalar reference. Shapes: {@code cache} = 256 x 2048 (1 MB: compute ceiling) and
 * {@code dram} = 16384 x 8192 (268 MB, a Grok-2 expert's gate half). GB/s = 2 * out * in / time; read the kernel as
 * a fraction of {@code bandwidth} with the same threads.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class BF16MatvecBench {
    @Param({"cache", "dram"})
    String shape;

    @Param({"1", "4"})
    int tokens;

    @Param({"1", "2"})
    int threads;

    Arena arena;
    ThreadPool pool;
    BF16Matrix w;
    MemoryBandwidth probe;
    float[] x;
    float[] y;

    @Setup(Level.Trial)
    public void setup() {
        int out = shape.equals("cache") ? 256 : 16384;
        int in = shape.equals("cache") ? 2048 : 8192;
        Weights.warmBf16(tokens);
        arena = Arena.ofShared();
        pool = new ThreadPool(threads);
        w = Weights.bf16(arena, out, in, 1);
        MemorySegment buffer = arena.allocate(2L * out * in, 4096);
        buffer.fill((byte) 1);
        probe = new MemoryBandwidth(buffer, threads);
        x = Weights.floats(in * tokens, 2);
        y = new float[out * tokens];
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

    /** The same number of bytes read by the bandwidth probe: the ceiling for {@link #vector}. */
    @Benchmark
    public void bandwidth() {
        pool.run(probe);
    }

    @Benchmark
    public void scalar(Blackhole bh) {
        if (threads == 1 && shape.equals("cache")) { // too slow to repeat at DRAM size
            w.multiplyScalar(x, tokens, y, 0, w.outputDim());
        }
        bh.consume(y);
    }
}
