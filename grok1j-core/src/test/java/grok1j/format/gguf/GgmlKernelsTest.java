package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Every kernel against a scalar dequantize-then-dot (in double), on odd shapes. The kernels pick 512- or 256-bit
 * vectors when their class loads; surefire runs this class a second time with {@code -Dgrok1j.kernel.lanes=8}
 * (grok1j-core's pom, execution {@code kernels-256-bit}) so the AVX2 code is tested on an AVX-512 machine too.
 */
class GgmlKernelsTest {

    static void check(GgmlType t, int k, int n, int tokens, int n0, int n1, Random r) {
        int blocks = k / t.blockSize() * n;
        byte[] raw = Blocks.random(t, blocks, r);
        try (Arena arena = Arena.ofConfined()) {
            // an off-heap, deliberately misaligned copy, as a mapped tensor slice can be
            MemorySegment seg = arena.allocate(raw.length + 3).asSlice(3);
            MemorySegment.copy(raw, 0, seg, ValueLayout.JAVA_BYTE, 0, raw.length);
            GgufMatrix m = new GgufMatrix(t, seg, k, n);
            float[] w = Blocks.decode(t, raw, blocks); // [n][k]
            float[] x = new float[tokens * k];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            float[] y = new float[tokens * n];
            java.util.Arrays.fill(y, Float.NaN);
            m.multiply(x, tokens, y, n0, n1);
            float[] row = new float[k];
            for (int tk = 0; tk < tokens; tk++) {
                for (int c = 0; c < n; c++) {
                    if (c < n0 || c >= n1) {
                        assertEquals(Float.NaN, y[tk * n + c], "column outside the range was written");
                        continue;
                    }
                    double ref = 0, mag = 0;
                    for (int i = 0; i < k; i++) {
                        double p = (double) w[c * k + i] * x[tk * k + i];
                        ref += p;
                        mag += Math.abs(p);
                    }
                    assertEquals(ref, y[tk * n + c], 1e-5 * mag + 1e-30, t + " k=" + k + " n=" + n + " token " + tk + " column " + c);
                    m.dequantizeRow(c, row, 0);
                    for (int i = 0; i < k; i++) {
                        assertEquals(w[c * k + i], row[i], 0f);
                    }
                }
            }
        }
    }

    @Test
    void everySupportedTypeOnOddShapes() {
        Random r = new Random(3);
        for (GgmlType t : GgmlBlocksTest.SUPPORTED) {
            int bs = t.blockSize();
            int[] ks = bs == 1 ? new int[] {1, 15, 16, 17, 33, 64, 100} : new int[] {bs, 2 * bs, 3 * bs, 7 * bs};
            for (int k : ks) {
                check(t, k, 1, 1, 0, 1, r);
                check(t, k, 3, 2, 0, 3, r);
                check(t, k, 17, 3, 5, 16, r);
                // one token (the decode kernels): row groups of GgmlMatvec.ROWS plus leftover rows, odd ranges
                check(t, k, 17, 1, 0, 17, r);
                check(t, k, 23, 1, 3, 22, r);
            }
        }
    }

    /** Which vector width this JVM's kernels run (printed so the two surefire runs can be told apart). */
    @Test
    void reportsItsLanes() {
        String forced = System.getProperty("grok1j.kernel.lanes");
        assertEquals(forced == null ? grok1j.tensor.GgmlMatvec.lanes() : Integer.parseInt(forced), grok1j.tensor.GgmlMatvec.lanes());
    }

    @Test
    void unsupportedTypesAreRefused() {
        MemorySegment seg = MemorySegment.ofArray(new byte[66]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new GgufMatrix(GgmlType.IQ2_XXS, seg, 256, 1));
        assertEquals(true, e.getMessage().contains("IQ2_XXS"));
        assertThrows(IllegalArgumentException.class, () -> new GgufMatrix(GgmlType.Q8_0, seg, 32, 2));
    }

    /** The vectorized half-to-float widening on subnormals, extremes, signed zero, infinity and NaN. */
    @Test
    void f16SpecialValues() {
        short[] bits = {0x0001, 0x03FF, (short) 0x8001, 0x0400, 0x7BFF, (short) 0xFBFF, (short) 0x8000, 0x3C00,
                0x3555, (short) 0x83FF, 0x0200, 0x1234, 0x6789, (short) 0xABCD, 0x7000, 0x0010};
        MemorySegment seg = MemorySegment.ofArray(new byte[3 * 32]);
        for (int i = 0; i < 16; i++) {
            seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 2L * i, bits[i]);
        }
        seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 32, (short) 0xFC00);
        seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 64, (short) 0x7E00);
        GgufMatrix m = new GgufMatrix(GgmlType.F16, seg, 16, 3);
        float[] y = new float[3];
        for (int i = 0; i < 16; i++) {
            float[] x = new float[16];
            x[i] = 1;
            m.multiply(x, 1, y, 0, 1);
            assertEquals(Float.float16ToFloat(bits[i]), y[0], 0f, "half bits " + Integer.toHexString(bits[i] & 0xFFFF));
        }
        float[] x = new float[16];
        x[0] = 1;
        m.multiply(x, 1, y, 1, 3);
        assertEquals(Float.NEGATIVE_INFINITY, y[1]);
        assertEquals(Float.NaN, y[2]);
    }

    /**
     * The F16 decode kernels (four rows per pass, one row for the leftovers) on rows long enough for their vector
     * loop: every finite special value (subnormals, extremes, signed zero) at every position, exact; an infinity or a
     * NaN, in a four-row pass or in a leftover row, gives what the exact widening gives.
     */
    @Test
    void f16SpecialValuesInTheDecodeKernels() {
        short[] bits = {0x0001, 0x03FF, (short) 0x8001, 0x0400, 0x7BFF, (short) 0xFBFF, (short) 0x8000, 0x3C00,
                0x3555, (short) 0x83FF, 0x0200, 0x1234, 0x6789, (short) 0xABCD, 0x7000, 0x0010};
        int k = 69, n = 6;
        var le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
        MemorySegment seg = MemorySegment.ofArray(new byte[2 * k * n]);
        short[][] w = new short[n][k];
        for (int c = 0; c < n; c++) {
            for (int i = 0; i < k; i++) {
                w[c][i] = bits[(i + 5 * c) % bits.length];
                seg.set(le, 2L * (c * k + i), w[c][i]);
            }
        }
        GgufMatrix m = new GgufMatrix(GgmlType.F16, seg, k, n);
        float[] y = new float[n];
        for (int i = 0; i < k; i++) {
            float[] x = new float[k];
            x[i] = 1;
            m.multiply(x, 1, y, 0, n);
            for (int c = 0; c < n; c++) {
                assertEquals(Float.float16ToFloat(w[c][i]), y[c], 0f, "row " + c + " element " + i);
            }
        }
        // rows 1 (four-row pass) and 5 (leftover) get an infinity, row 4 (leftover) and row 2 a NaN, all in the vector loop
        int[][] specials = {{1, 40, 0x7C00}, {5, 3, 0xFC00}, {4, 35, 0x7E01}, {2, 17, 0xFFFF}};
        for (int[] sp : specials) {
            seg.set(le, 2L * (sp[0] * k + sp[1]), (short) sp[2]);
            float[] x = new float[k];
            x[sp[1]] = 1;
            m.multiply(x, 1, y, 0, n);
            assertEquals(Float.float16ToFloat((short) sp[2]), y[sp[0]], 0f, "row " + sp[0] + " half bits " + Integer.toHexString(sp[2]));
            seg.set(le, 2L * (sp[0] * k + sp[1]), w[sp[0]][sp[1]]);
        }
    }

    /**
     * The F16 decode kernels meet the activation times 2^112 (the factor their widening leaves out): products stay
     * exact for tiny and large activations, and from 2^15 on (where the scaled value could overflow) the exact
     * unscaled kernel takes over, with the same results.
     */
    @Test
    void f16DecodeKernelsAcrossActivationMagnitudes() {
        short[] bits = {0x0001, 0x03FF, (short) 0x8001, 0x0400, 0x7BFF, (short) 0xFBFF, (short) 0x8000, 0x3C00,
                0x3555, (short) 0x83FF, 0x0200, 0x1234, 0x6789, (short) 0xABCD, 0x7000, 0x0010};
        float[] magnitudes = {1e-40f, 1e-30f, 3e-8f, 1f, 30000f, Math.nextDown(0x1p15f), 0x1p15f, 65000f, 1e30f, -7e37f};
        int k = 69, n = 6;
        var le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
        MemorySegment seg = MemorySegment.ofArray(new byte[2 * k * n]);
        for (int c = 0; c < n; c++) {
            for (int i = 0; i < k; i++) {
                seg.set(le, 2L * (c * k + i), bits[(i + 3 * c) % bits.length]);
            }
        }
        GgufMatrix m = new GgufMatrix(GgmlType.F16, seg, k, n);
        float[] y = new float[n];
        for (float a : magnitudes) {
            for (int i = 0; i < k; i += 5) {
                float[] x = new float[k];
                x[i] = a;
                m.multiply(x, 1, y, 0, n);
                for (int c = 0; c < n; c++) {
                    float expected = Float.float16ToFloat(bits[(i + 3 * c) % bits.length]) * a;
                    assertEquals(expected, y[c], 0f, "row " + c + " element " + i + " activation " + a);
                }
            }
        }
    }
}
