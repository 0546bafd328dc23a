package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.EnumMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The multi-row kernels allocate nothing once C2 has compiled them. Their vectors live in registers; a vector passed
 * to a call C2 did not inline (it stops inlining in large methods, NodeCountInliningCutoff) is boxed, its lanes copied
 * to a new array, which cost the float32 unembedding 31.5 MB per call and a 512-token prefill 300 MB in attention
 * (see {@link LaneSum}). Each kernel runs in rounds until a round of calls allocates nothing on this thread (C2 has
 * compiled it), or fails after a minute with the bytes per call of the last round.
 *
 * <p>Tagged {@code clean-jvm}: it runs in JVMs of its own (both vector widths), where the kernels see native segments
 * only, as in grok1j. In the shared test JVM other tests feed the same kernels heap segments
 * ({@code MemorySegment.ofArray}), and the F16 kernel compiled for both classes boxed its vectors (21-72 KB per call).
 */
@Tag("clean-jvm")
class KernelAllocationTest {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static Arena arena;
    /** The quantized GGUF types' decode kernels, and each one's output at its first call (in the interpreter). */
    private static final GgmlType[] QUANTIZED = {GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_K,
            GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.F32};
    private static final int QK = 512, QN = 4 * 8 + 1;
    private static final Map<GgmlType, MemorySegment> ROWS = new EnumMap<>(GgmlType.class);
    private static final Map<GgmlType, float[]> FIRST_CALL = new EnumMap<>(GgmlType.class);

    @BeforeAll
    static void open() {
        arena = Arena.ofShared();
        float[] x = activation(QK, 10);
        for (GgmlType type : QUANTIZED) {
            ROWS.put(type, randomBytes(type.bytesFor(QK) * QN, 11));
            float[] y = new float[QN];
            GgmlMatvec.multiply(type, ROWS.get(type), type.bytesFor(QK), QK, x, y, 0, QN);
            FIRST_CALL.put(type, y);
        }
    }

    @AfterAll
    static void close() {
        arena.close();
    }

    private static MemorySegment randomBytes(long bytes, long seed) {
        MemorySegment m = arena.allocate(bytes, 64);
        Random r = new Random(seed);
        for (long i = 0; i < bytes; i++) {
            m.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt());
        }
        return m;
    }

    private static float[] activation(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static void assertNoAllocationOnceCompiled(String kernel, Runnable call) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        long perCall = -1;
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < 2_000; i++) {
                call.run();
            }
            long before = THREADS.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 100; i++) {
                call.run();
            }
            long bytes = THREADS.getCurrentThreadAllocatedBytes() - before;
            if (bytes == 0) {
                return;
            }
            perCall = bytes / 100;
        }
        fail(kernel + " still allocates " + perCall + " bytes per call after a minute of calls");
    }

    @Test
    void f32RowsAllocateNothing() {
        int k = 256 + 16 + 3, n = 4 * 16 + 1;
        MemorySegment w = arena.allocate(4L * k * n, 64);
        float[] values = activation(k * n, 1);
        for (int i = 0; i < values.length; i++) {
            w.setAtIndex(ValueLayout.JAVA_FLOAT, i, values[i]); // not through a heap segment (see the class comment)
        }
        F32Matrix m = new F32Matrix(w, k, n, F32Matrix.Layout.OUT_IN);
        float[] x = activation(k, 2);
        float[] y = new float[n];
        assertNoAllocationOnceCompiled("F32Matrix.multiply", () -> m.multiply(x, 1, y, 0, n));
    }

    @Test
    void f16AndBf16RowsAllocateNothing() {
        int k = 512, n = 4 * 8 + 1;
        for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16}) {
            MemorySegment w = randomBytes(2L * k * n, 3);
            // finite halves only (the F16 kernel sends rows with Inf/NaN to the exact one-row kernel)
            for (long i = 0; i < (long) k * n; i++) {
                w.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, (short) (w.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i) & 0x3BFF));
            }
            float[] x = activation(k, 4);
            float[] y = new float[n];
            assertNoAllocationOnceCompiled(type + " GgmlMatvec.multiply",
                    () -> GgmlMatvec.multiply(type, w, 2L * k, k, x, y, 0, n));
        }
    }

    /**
     * Once compiled, each quantized kernel still gives the bits of its first call, which ran in the interpreter of
     * this fresh JVM: its lane sums are folded in a fixed order ({@link LaneSum}), where {@code reduceLanes(ADD)}
     * summed in C2's order once compiled and in another before (a Q4_K matrix's outputs differed in their last bits
     * between two runs of the same program).
     */
    @Test
    void quantizedRowsAllocateNothingAndKeepTheirFirstCallsBits() {
        float[] x = activation(QK, 10);
        float[] y = new float[QN];
        for (GgmlType type : QUANTIZED) {
            long rowBytes = type.bytesFor(QK);
            MemorySegment w = ROWS.get(type);
            assertNoAllocationOnceCompiled(type + " GgmlMatvec.multiply",
                    () -> GgmlMatvec.multiply(type, w, rowBytes, QK, x, y, 0, QN));
            assertArrayEquals(FIRST_CALL.get(type), y, type + ": compiled against the first call");
        }
    }

    /** The decode kernels of the repacked layouts, over a whole four-group pass and a group left over. */
    @Test
    void interleavedLayoutsAllocateNothing() {
        int k = 512, n = 5 * InterleavedPrefill.GROUP;
        float[] x = activation(k, 12);
        float[] y = new float[n];
        GgufMatrix q8 = new GgufMatrix(GgmlType.Q8_0, randomBytes(GgmlType.Q8_0.bytesFor(k) * n, 13), k, n);
        InterleavedQ8_0Matrix interleaved = InterleavedQ8_0Matrix.repack(q8, arena);
        assertNoAllocationOnceCompiled("InterleavedQ8_0Matrix.multiply", () -> interleaved.multiply(x, 1, y, 0, n));
        if (InterleavedQ6_KMatrix.supported()) { // 512-bit vectors only
            GgufMatrix q6 = new GgufMatrix(GgmlType.Q6_K, randomBytes(GgmlType.Q6_K.bytesFor(k) * n, 14), k, n);
            InterleavedQ6_KMatrix unpacked = InterleavedQ6_KMatrix.repack(q6, arena);
            assertNoAllocationOnceCompiled("InterleavedQ6_KMatrix.multiply", () -> unpacked.multiply(x, 1, y, 0, n));
        }
        GgufMatrix q4 = new GgufMatrix(GgmlType.Q4_K, randomBytes(GgmlType.Q4_K.bytesFor(k) * n, 15), k, n);
        InterleavedQ4_KMatrix nibbles = InterleavedQ4_KMatrix.repack(q4, arena);
        assertNoAllocationOnceCompiled("InterleavedQ4_KMatrix.multiply", () -> nibbles.multiply(x, 1, y, 0, n));
    }

    @Test
    void bf16MatrixAllocatesNothing() {
        int k = 256 + 2, n = 8 + 1;
        BF16Matrix m = BF16Matrix.of(randomBytes(2L * k * n, 5), n, k);
        float[] x1 = activation(k, 6);
        float[] x4 = activation(4 * k, 7);
        float[] y1 = new float[n];
        float[] y4 = new float[4 * n];
        assertNoAllocationOnceCompiled("BF16Matrix.multiply, one token", () -> m.multiply(x1, 1, y1, 0, n));
        assertNoAllocationOnceCompiled("BF16Matrix.multiply, four tokens", () -> m.multiply(x4, 4, y4, 0, n));
    }

    @Test
    void attentionDotsAllocateNothing() {
        int hd = 128, count = 64;
        float[] q = activation(3 * hd, 8);
        float[] keys = activation(count * hd, 9);
        float[] out = new float[3 * count];
        assertNoAllocationOnceCompiled("AttentionKernels.dots3",
                () -> AttentionKernels.dots3(q, 0, hd, 2 * hd, keys, 0, hd, count, hd, out, 0, count, 2 * count));
        assertNoAllocationOnceCompiled("AttentionKernels.dots3, an odd count",
                () -> AttentionKernels.dots3(q, 0, hd, 2 * hd, keys, 0, hd, count - 1, hd, out, 0, count, 2 * count));
        assertNoAllocationOnceCompiled("AttentionKernels.dots1",
                () -> AttentionKernels.dots1(q, hd, keys, 0, hd, count, hd, out, 0));
    }
}
