package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.tensor.BFloat16;
import grok1j.tensor.GgmlDequant;
import grok1j.tensor.GgmlQuant;
import grok1j.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Q8_0 of values already on an int8 grid (the official checkpoint's weights) is exact; other blocks follow ggml. */
class Q8ExactTest {
    static byte[] q8(float[] x) {
        byte[] b = new byte[34 * (x.length / 32)];
        GgmlQuant.quantize(GgmlType.Q8_0, x, 0, x.length, MemorySegment.ofArray(b), 0);
        return b;
    }

    static float[] back(byte[] b) {
        float[] y = new float[b.length / 34 * 32];
        GgmlDequant.dequantize(GgmlType.Q8_0, MemorySegment.ofArray(b), 0, y, 0, y.length);
        return y;
    }

    @Test
    void int8TimesBf16ScaleRoundTripsExactly() {
        Random r = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            float s = BFloat16.round((float) (1e-4 + 0.01 * r.nextDouble()));
            int max = 1 + r.nextInt(127); // the block's largest |q| is usually below 127
            float[] x = new float[32];
            for (int i = 0; i < 32; i++) {
                x[i] = (r.nextInt(2 * max + 1) - max) * s;
            }
            assertArrayEquals(x, back(q8(x)), "scale " + s + ", max |q| " + max);
        }
    }

    @Test
    void blockWithA127KeepsGgmlsBytes() {
        // max |x| = 127 * 0.5: d = 0.5 (fp16 0x3800) either way, q = x / d
        float[] x = new float[32];
        byte[] want = new byte[34];
        want[1] = 0x38;
        for (int i = 0; i < 32; i++) {
            int q = i == 0 ? -127 : 4 * i - 64;
            x[i] = q * 0.5f;
            want[2 + i] = (byte) q;
        }
        assertArrayEquals(want, q8(x));
    }

    @Test
    void offGridBlockUsesAmaxOver127() {
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) {
            x[i] = (float) Math.sin(i + 0.5); // no common grid
        }
        float amax = 0;
        for (float v : x) {
            amax = Math.max(amax, Math.abs(v));
        }
        byte[] b = q8(x);
        short d = (short) ((b[0] & 0xFF) | (b[1] & 0xFF) << 8);
        assertEquals(Float.floatToFloat16(amax / 127), d);
        for (int i = 0; i < 32; i++) {
            assertEquals(Math.round(x[i] * (127 / amax)), b[2 + i], 1);
        }
    }
}
