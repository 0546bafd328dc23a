package grok1j.bench;

import grok1j.tensor.MemoryBandwidth;
import grok1j.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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

/**
 * The memory bandwidth probe (vectorized sum over 512 MB off-heap) against a scalar long loop, with 1 or 2 pool
 * threads: the denominator for the memory-bound kernels (kernels.md §7.1: report kernels as a fraction of it).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
@Threads(1)
public class BandwidthBench {
    @Param({"1", "2"})
    int threads;

    Arena arena;
    MemorySegment buffer;
    ThreadPool pool;
    MemoryBandwidth probe;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        buffer = arena.allocate(512L << 20, 4096);
        buffer.fill((byte) 1);
        pool = new ThreadPool(threads);
        probe = new MemoryBandwidth(buffer, threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    @Benchmark
    public void vector() {
        pool.run(probe);
    }

    @Benchmark
    public long scalar() {
        long s = 0;
        for (long o = 0; o < buffer.byteSize(); o += 8) {
            s += buffer.get(ValueLayout.JAVA_LONG_UNALIGNED, o);
        }
        return s;
    }
}
