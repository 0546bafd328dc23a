package grok1j.bench;

import grok1j.tensor.BF16Matrix;
import grok1j.tensor.BFloat16;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import grok1j.tensor.Int8GroupedMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Random weights in off-heap memory for the benchmarks. */
final class Weights {
    private Weights() {}

    static Int8GroupedMatrix int8(Arena arena, int k, int n, int groups, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        MemorySegment q = arena.allocate((long) k * n, 64);
        for (long i = 0; i + 8 <= q.byteSize(); i += 8) {
            q.set(ValueLayout.JAVA_LONG_UNALIGNED, i, rnd.nextLong());
        }
        MemorySegment s = arena.allocate(2L * groups * n, 64);
        for (long i = 0; i < (long) groups * n; i++) {
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, BFloat16.fromFloat((float) (0.001 + 0.01 * rnd.nextDouble())));
        }
        return new Int8GroupedMatrix(q, s, k, n, groups);
    }

    /** A random bf16 {@code [out, in]} matrix, values about N(0, 0.3). */
    static BF16Matrix bf16(Arena arena, int out, int in, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        MemorySegment m = arena.allocate(2L * out * in, 64);
        ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < (long) out * in; i++) {
            m.setAtIndex(le, i, BFloat16.fromFloat((float) (rnd.nextDouble() - 0.5)));
        }
        return BF16Matrix.of(m, out, in);
    }

    /** Compiles the bf16 kernels (1 token and 2 x 4 tiles, blocked) on a small matrix before a large one is timed. */
    static void warmBf16(int tokens) {
        try (Arena arena = Arena.ofConfined()) {
            BF16Matrix w = bf16(arena, 512, 1024, 9);
            float[] x = floats(1024 * tokens, 1);
            float[] y = new float[512 * tokens];
            for (int i = 0; i < 3000; i++) {
                w.multiply(x, tokens, y, 0, 512);
            }
        }
    }

    static F32Matrix f32(Arena arena, int k, int n, F32Matrix.Layout layout, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        MemorySegment m = arena.allocate(4L * k * n, 64);
        ValueLayout.OfFloat le = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < (long) k * n; i++) {
            m.setAtIndex(le, i, (float) (rnd.nextDouble() - 0.5));
        }
        return new F32Matrix(m, k, n, layout);
    }

    /**
     * Runs the int8 kernels many times on a small matrix so that C2 has compiled them before a large matrix is
     * timed (a first call on a 268 MB matrix would otherwise run interpreted or in OSR code, kernels.md §4.3).
     */
    static void warmInt8(int tokens) {
        try (Arena arena = Arena.ofConfined()) {
            Int8GroupedMatrix w = int8(arena, 256, 1024, 8, 9);
            float[] x = floats(256 * tokens, 1);
            float[] y = new float[1024 * tokens];
            for (int i = 0; i < 5000; i++) {
                w.multiply(x, tokens, y, 0, 1024);
            }
        }
    }

    /**
     * {@code n} random GGUF rows of {@code k} elements of {@code type}: random quants, scales about 0.01 (float types:
     * uniform in [-0.5, 0.5)).
     */
    static GgufMatrix gguf(Arena arena, GgmlType type, int k, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        ValueLayout.OfShort half = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long bytes = type.bytesFor(k) * n;
        MemorySegment m = arena.allocate(bytes, 64);
        for (long i = 0; i + 8 <= bytes; i += 8) {
            m.set(ValueLayout.JAVA_LONG_UNALIGNED, i, rnd.nextLong());
        }
        long blocks = (long) k / type.blockSize() * n;
        int[] halves = switch (type) {
            case Q8_0, Q4_0, Q5_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
        for (long b = 0; b < blocks; b++) {
            long o = b * type.typeSize();
            float v = (float) (rnd.nextDouble() - 0.5);
            switch (type) {
                case F32 -> m.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), o, v);
                case F16 -> m.set(half, o, Float.floatToFloat16(v));
                case BF16 -> m.set(half, o, BFloat16.fromFloat(v));
                default -> {
                    for (int f : halves) {
                        m.set(half, o + f, Float.floatToFloat16((float) (0.001 + 0.01 * rnd.nextDouble())));
                    }
                }
            }
        }
        return new GgufMatrix(type, m, k, n);
    }

    static float[] floats(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }
}
