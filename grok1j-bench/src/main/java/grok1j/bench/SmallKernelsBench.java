package grok1j.bench;

import grok1j.tensor.F32Matrix;
import grok1j.tensor.Kernels;
import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The small float32 kernels against their scalar versions: attention's dot product and weighted sum over one
 * 1024-position KV-cache slice of a 128-wide head, and the f32 unembedding rows ({@code [d, vocab]} stored
 * {@code OUT_IN}, 6144 x 4096 = 100 MB).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 10, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
@Threads(1)
public class SmallKernelsBench {
    static final int HD = 128;
    static final int POSITIONS = 1024;
    static final int WIDTH = 1024; // 8 KV heads x 128

    Arena arena;
    float[] q;
    float[] keys;
    float[] out;
    F32Matrix unembed;
    float[] h;
    float[] logits;

    @Setup(Level.Trial)
    public void setup() {
        q = Weights.floats(HD, 1);
        keys = Weights.floats(POSITIONS * WIDTH, 2);
        out = new float[HD];
        arena = Arena.ofShared();
        unembed = Weights.f32(arena, 6144, 4096, F32Matrix.Layout.OUT_IN, 3);
        h = Weights.floats(6144, 4);
        logits = new float[4096];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float dotVector() {
        float s = 0;
        for (int p = 0; p < POSITIONS; p++) {
            s += Kernels.dot(q, 0, keys, p * WIDTH + 256, HD);
        }
        return s;
    }

    @Benchmark
    public float dotScalar() {
        float s = 0;
        for (int p = 0; p < POSITIONS; p++) {
            s += Kernels.dotScalar(q, 0, keys, p * WIDTH + 256, HD);
        }
        return s;
    }

    @Benchmark
    public void axpyVector(Blackhole bh) {
        for (int p = 0; p < POSITIONS; p++) {
            Kernels.axpy(0.001f, keys, p * WIDTH + 256, out, 0, HD);
        }
        bh.consume(out);
    }

    @Benchmark
    public void axpyScalar(Blackhole bh) {
        for (int p = 0; p < POSITIONS; p++) {
            Kernels.axpyScalar(0.001f, keys, p * WIDTH + 256, out, 0, HD);
        }
        bh.consume(out);
    }

    @Benchmark
    public void unembedVector(Blackhole bh) {
        unembed.multiply(h, 1, logits, 0, 4096);
        bh.consume(logits);
    }

    @Benchmark
    public void unembedScalar(Blackhole bh) {
        unembed.multiplyScalar(h, 1, logits, 0, 4096);
        bh.consume(logits);
    }
}
