package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.tensor.GgmlDequant;
import grok1j.tensor.GgmlQuant;
import grok1j.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Block layouts: test vectors from the format definition (spec kernels.md §3), and quantize/dequantize round trips. */
class GgmlBlocksTest {

    static final GgmlType[] SUPPORTED = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
            GgmlType.Q6_K};

    static float[] dequant(GgmlType t, byte[] b) {
        int n = b.length / t.typeSize() * t.blockSize();
        float[] out = new float[n + 3];
        GgmlDequant.dequantize(t, MemorySegment.ofArray(b), 0, out, 3, n);
        return java.util.Arrays.copyOfRange(out, 3, n + 3);
    }

    @Test
    void dequantizeMatchesTheElementDefinitionBitForBit() {
        Random r = new Random(1);
        for (GgmlType t : SUPPORTED) {
            byte[] b = Blocks.random(t, 5, r);
            assertArrayEquals(Blocks.decode(t, b, 5), dequant(t, b), t.toString());
        }
    }

    static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    @Test
    void handWrittenVectors() {
        // Q8_0: d = 0.5 (fp16 0x3800), qs = 0, 1, -1, 127, -127, then zeros
        byte[] q8 = new byte[34];
        q8[0] = 0x00; q8[1] = 0x38;
        q8[3] = 1; q8[4] = -1; q8[5] = 127; q8[6] = -127;
        float[] v = dequant(GgmlType.Q8_0, q8);
        assertArrayEquals(new float[] {0, 0.5f, -0.5f, 63.5f, -63.5f}, java.util.Arrays.copyOf(v, 5));

        // Q4_0: d = 2.0 (0x4000); qs[0] = 0x1F: element 0 = (15-8)*2 = 14, element 16 = (1-8)*2 = -14
        byte[] q4 = new byte[18];
        q4[1] = 0x40;
        q4[2] = 0x1F;
        for (int i = 3; i < 18; i++) {
            q4[i] = (byte) 0x88; // zero after the -8 offset
        }
        v = dequant(GgmlType.Q4_0, q4);
        assertEquals(14f, v[0]);
        assertEquals(-14f, v[16]);
        assertEquals(0f, v[1]);
        assertEquals(0f, v[31]);

        // Q5_0: d = 1.0 (0x3C00), qh bit 0 and bit 16 set, qs[0] = 0x00 -> elements 0 and 16 = 16-16 = 0, others -16
        byte[] q5 = new byte[22];
        q5[1] = 0x3C;
        q5[2] = 0x01; q5[4] = 0x01;
        v = dequant(GgmlType.Q5_0, q5);
        assertEquals(0f, v[0]);
        assertEquals(0f, v[16]);
        assertEquals(-16f, v[1]);

        // Q4_K: d = 1.0, dmin = 0.5 (0x3800); sub-block 0 scale 3 min 2; sub-block 5 scale 0x25 = 37, min 0x1A = 26
        // sub-block 5 (j >= 4): sc = (s[9] & 0xF) | (s[1] >> 6) << 4; m = (s[9] >> 4) | (s[5] >> 6) << 4
        byte[] q4k = new byte[144];
        q4k[1] = 0x3C; q4k[3] = 0x38;
        q4k[4] = 3; q4k[8] = 2;
        q4k[4 + 1] = (byte) (2 << 6); // high bits of sub-block 5's scale (37 = 0b10_0101)
        q4k[4 + 5] = (byte) (1 << 6); // high bits of sub-block 5's min (26 = 0b01_1010)
        q4k[4 + 9] = (byte) (0x5 | 0xA << 4);
        q4k[16] = 0x07;           // element 0: low nibble 7 (sub-block 0); element 32: high nibble 0 (sub-block 1)
        q4k[16 + 64 + 1] = (byte) 0x90; // group 2, byte 1: element 129 low nibble 0 (sub-block 4), element 161 high 9 (sub-block 5)
        v = dequant(GgmlType.Q4_K, q4k);
        assertEquals(1f * 3 * 7 - 0.5f * 2, v[0]);
        assertEquals(37f * 9 - 0.5f * 26, v[161]);
        assertEquals(0f, v[129]); // sub-block 4 has scale 0, min 0

        // Q6_K: d = -0.25 (0xB400); scales[0] = 4, scales[6] = -2;
        // element 0 = ql[0] low | (qh[0] & 3) << 4, element 96 = ql[32] high | (qh[0] >> 6) << 4, sub-block 6
        byte[] q6 = new byte[210];
        q6[208] = 0x00; q6[209] = (byte) 0xB4;
        q6[192] = 4; q6[192 + 6] = -2;
        q6[0] = 0x05; q6[32] = (byte) 0xA0; q6[128] = (byte) 0b11_00_00_10;
        v = dequant(GgmlType.Q6_K, q6);
        assertEquals(-0.25f * 4 * ((5 | 2 << 4) - 32), v[0]);
        assertEquals(-0.25f * -2 * ((0xA | 3 << 4) - 32), v[96]);
    }

    static byte[] quantize(GgmlType t, float[] x) {
        byte[] b = new byte[(int) t.bytesFor(x.length)];
        GgmlQuant.quantize(t, x, 0, x.length, MemorySegment.ofArray(b), 0);
        return b;
    }

    @Test
    void quantizeKnownBlocksToExactBytes() {
        // F32 / F16 / BF16 of 1.5 and -2: little-endian IEEE bits
        assertArrayEquals(bytes(0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0), quantize(GgmlType.F32, new float[] {1.5f, -2f}));
        assertArrayEquals(bytes(0x00, 0x3E, 0x00, 0xC0), quantize(GgmlType.F16, new float[] {1.5f, -2f}));
        assertArrayEquals(bytes(0xC0, 0x3F, 0x00, 0xC0), quantize(GgmlType.BF16, new float[] {1.5f, -2f}));
        // bf16 rounds to nearest even: 1 + 2^-8 (halfway) -> 1.0, 1 + 3*2^-8 -> 1 + 2^-6
        assertArrayEquals(bytes(0x80, 0x3F, 0x82, 0x3F), quantize(GgmlType.BF16, new float[] {1 + 0x1p-8f, 1 + 3 * 0x1p-8f}));

        // Q8_0 with max |x| = 127: d = 1.0 (0x3C00), q = x
        float[] x = new float[32];
        byte[] expect = new byte[34];
        expect[1] = 0x3C;
        for (int i = 0; i < 32; i++) {
            x[i] = 127 - 8 * i;
            expect[2 + i] = (byte) (127 - 8 * i);
        }
        assertArrayEquals(expect, quantize(GgmlType.Q8_0, x));

        // Q4_K: every sub-block holds the integers 0..15 (both ends present), so each fits scale 1, min 0 exactly.
        // max scale 1 -> d = fp16(1/63) = 0x2410, dmin = 0, 6-bit scales all 63, mins 0:
        // bytes 0-3 = 63 | (63 >> 4) << 6 = 0xFF, bytes 4-7 = 0, bytes 8-11 = 63 & 0xF = 0x0F; qs = l | l' << 4
        x = new float[256];
        for (int i = 0; i < 256; i++) {
            x[i] = (i * 7 + i / 32) % 16;
        }
        for (int j = 0; j < 8; j++) {
            x[32 * j] = 0;
            x[32 * j + 1] = 15;
        }
        expect = new byte[144];
        expect[0] = 0x10; expect[1] = 0x24;
        for (int i = 0; i < 4; i++) {
            expect[4 + i] = (byte) 0xFF;
            expect[12 + i] = 0x0F;
        }
        for (int g = 0; g < 4; g++) {
            for (int l = 0; l < 32; l++) {
                expect[16 + 32 * g + l] = (byte) ((int) x[64 * g + l] | (int) x[64 * g + 32 + l] << 4);
            }
        }
        byte[] got = quantize(GgmlType.Q4_K, x);
        assertArrayEquals(expect, got);
        assertArrayEquals(x, dequantRounded(GgmlType.Q4_K, got));

        // Q6_K: every 16-element sub-block holds integers in [-32, 31] including -32, so each fits scale 1; the largest
        // scale maps to -128: d = 1 / -128 = -2^-7 (fp16 0xA000), scales all int8 -128, levels = x + 32
        x = new float[256];
        for (int i = 0; i < 256; i++) {
            x[i] = (i * 13) % 64 - 32;
        }
        for (int ib = 0; ib < 16; ib++) {
            x[16 * ib + 3] = -32;
        }
        expect = new byte[210];
        for (int n = 0; n < 2; n++) {
            for (int l = 0; l < 32; l++) {
                int a = (int) x[128 * n + l] + 32, b = (int) x[128 * n + l + 32] + 32;
                int c = (int) x[128 * n + l + 64] + 32, e = (int) x[128 * n + l + 96] + 32;
                expect[64 * n + l] = (byte) ((a & 0xF) | (c & 0xF) << 4);
                expect[64 * n + l + 32] = (byte) ((b & 0xF) | (e & 0xF) << 4);
                expect[128 + 32 * n + l] = (byte) (a >> 4 | (b >> 4) << 2 | (c >> 4) << 4 | (e >> 4) << 6);
            }
        }
        for (int ib = 0; ib < 16; ib++) {
            expect[192 + ib] = -128;
        }
        expect[208] = 0x00; expect[209] = (byte) 0xA0;
        got = quantize(GgmlType.Q6_K, x);
        assertArrayEquals(expect, got);
        assertArrayEquals(x, dequant(GgmlType.Q6_K, got));
    }

    /** Dequantized values rounded to the nearest integer (Q4_K's d = fp16(1/63) times 63 is not exactly 1). */
    static float[] dequantRounded(GgmlType t, byte[] b) {
        float[] v = dequant(t, b);
        for (int i = 0; i < v.length; i++) {
            assertEquals(Math.rint(v[i]), v[i], 0.02, "element " + i);
            v[i] = (float) Math.rint(v[i]);
        }
        return v;
    }

    /** Round trips on Gaussian data: relative RMS error within what each format's bits allow. */
    @Test
    void roundTripErrors() {
        Random r = new Random(7);
        float[] x = new float[256 * 64];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * 0.02);
        }
        x[5] = 0.3f; // an outlier
        Object[][] cases = {{GgmlType.F32, 0.0}, {GgmlType.F16, 1e-3}, {GgmlType.BF16, 5e-3}, {GgmlType.Q8_0, 0.01},
                {GgmlType.Q6_K, 0.03}, {GgmlType.Q4_K, 0.12}};
        for (Object[] c : cases) {
            GgmlType t = (GgmlType) c[0];
            float[] y = dequant(t, quantize(t, x));
            double se = 0, ss = 0;
            for (int i = 0; i < x.length; i++) {
                se += (y[i] - x[i]) * (double) (y[i] - x[i]);
                ss += (double) x[i] * x[i];
            }
            double rel = Math.sqrt(se / ss);
            assertTrue(rel <= (double) c[1], t + " relative RMS error " + rel);
        }
        // an all-zero block stays zero
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K}) {
            assertArrayEquals(new float[256], dequant(t, quantize(t, new float[256])), 0f, t.toString());
        }
    }
}
