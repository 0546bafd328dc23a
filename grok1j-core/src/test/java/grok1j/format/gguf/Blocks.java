package grok1j.format.gguf;

import grok1j.tensor.GgmlType;
import java.util.Random;

/**
 * Test helpers: random but valid ggml blocks, and the value of element {@code i} of a block computed straight from
 * the per-element definition in spec kernels.md §3 (an element-indexed rewrite, independent of the loop structure
 * of {@code GgmlDequant}). Arithmetic order follows ggml's ({@code (d * sc) * q - dmin * m}), so values are exact.
 */
final class Blocks {
    private Blocks() {}

    static int u8(byte[] b, int o) {
        return b[o] & 0xFF;
    }

    static float half(byte[] b, int o) {
        return Float.float16ToFloat((short) (u8(b, o) | u8(b, o + 1) << 8));
    }

    static void putHalf(byte[] b, int o, float v) {
        short h = Float.floatToFloat16(v);
        b[o] = (byte) h;
        b[o + 1] = (byte) (h >> 8);
    }

    /** Byte offsets of the fp16 scale fields of one block. */
    static int[] halfFields(GgmlType t) {
        return switch (t) {
            case Q8_0, Q4_0, Q5_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
    }

    /** {@code blocks} random blocks of type {@code t} whose scales are finite and moderate. */
    static byte[] random(GgmlType t, int blocks, Random r) {
        byte[] b = new byte[blocks * t.typeSize()];
        r.nextBytes(b);
        for (int k = 0; k < blocks; k++) {
            int o = k * t.typeSize();
            switch (t) {
                case F32 -> {
                    int v = Float.floatToRawIntBits((float) r.nextGaussian());
                    for (int i = 0; i < 4; i++) {
                        b[o + i] = (byte) (v >>> (8 * i));
                    }
                }
                case F16 -> putHalf(b, o, (float) r.nextGaussian());
                case BF16 -> {
                    int v = Float.floatToRawIntBits((float) r.nextGaussian());
                    b[o] = (byte) (v >>> 16);
                    b[o + 1] = (byte) (v >>> 24);
                }
                default -> {
                    for (int f : halfFields(t)) {
                        putHalf(b, o + f, (float) (r.nextGaussian() * 0.01));
                    }
                }
            }
        }
        return b;
    }

    static int kScale(byte[] b, int s, int j) {
        return j < 4 ? u8(b, s + j) & 63 : (u8(b, s + j + 4) & 0xF) | ((u8(b, s + j - 4) >> 6) << 4);
    }

    static int kMin(byte[] b, int s, int j) {
        return j < 4 ? u8(b, s + j + 4) & 63 : (u8(b, s + j + 4) >> 4) | ((u8(b, s + j) >> 6) << 4);
    }

    /** Element {@code i} of the block at byte {@code o} of {@code b}, from the spec's definition. */
    static float element(GgmlType t, byte[] b, int o, int i) {
        switch (t) {
            case F32:
                return Float.intBitsToFloat(u8(b, o) | u8(b, o + 1) << 8 | u8(b, o + 2) << 16 | u8(b, o + 3) << 24);
            case F16:
                return half(b, o);
            case BF16:
                return Float.intBitsToFloat((u8(b, o) | u8(b, o + 1) << 8) << 16);
            case Q8_0:
                return b[o + 2 + i] * half(b, o);
            case Q4_0: {
                int q = u8(b, o + 2 + i % 16);
                return ((i < 16 ? q & 0xF : q >> 4) - 8) * half(b, o);
            }
            case Q4_1: {
                int q = u8(b, o + 4 + i % 16);
                return (i < 16 ? q & 0xF : q >> 4) * half(b, o) + half(b, o + 2);
            }
            case Q5_0, Q5_1: {
                boolean one = t == GgmlType.Q5_1;
                int qhOff = o + (one ? 4 : 2);
                long qh = u8(b, qhOff) | u8(b, qhOff + 1) << 8 | u8(b, qhOff + 2) << 16 | (long) u8(b, qhOff + 3) << 24;
                int q = u8(b, qhOff + 4 + i % 16);
                int v = (i < 16 ? q & 0xF : q >> 4) | (int) ((qh >> i) & 1) << 4;
                return one ? v * half(b, o) + half(b, o + 2) : (v - 16) * half(b, o);
            }
            case Q2_K, Q3_K: {
                int n = i / 128, r = i % 128, plane = r / 32, s = r % 32;
                int is = 8 * n + 2 * plane + s / 16;
                int qOff = t == GgmlType.Q2_K ? 16 : 32;
                int q = (u8(b, o + qOff + 32 * n + s) >> (2 * plane)) & 3;
                if (t == GgmlType.Q2_K) {
                    int sc = u8(b, o + is);
                    return half(b, o + 80) * (sc & 0xF) * q - half(b, o + 82) * (sc >> 4);
                }
                int low = is < 8 ? u8(b, o + 96 + is) & 0xF : u8(b, o + 96 + is - 8) >> 4;
                int high = (u8(b, o + 96 + 8 + is % 4) >> (2 * (is / 4))) & 3;
                int scale = (low | high << 4) - 32;
                boolean hbit = (u8(b, o + s) >> (4 * n + plane) & 1) != 0;
                return half(b, o + 108) * scale * (q - (hbit ? 0 : 4));
            }
            case Q4_K, Q5_K: {
                int g = i / 64, r = i % 64, j = 2 * g + r / 32, l = r % 32;
                int qOff = t == GgmlType.Q4_K ? 16 : 48;
                int byt = u8(b, o + qOff + 32 * g + l);
                int q = r < 32 ? byt & 0xF : byt >> 4;
                if (t == GgmlType.Q5_K && ((u8(b, o + 16 + l) >> j) & 1) != 0) {
                    q += 16;
                }
                return half(b, o) * kScale(b, o + 4, j) * q - half(b, o + 2) * kMin(b, o + 4, j);
            }
            case Q6_K: {
                int n = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
                int byt = u8(b, o + 64 * n + (quarter % 2 == 1 ? 32 : 0) + l);
                int nib = quarter < 2 ? byt & 0xF : byt >> 4;
                int h = (u8(b, o + 128 + 32 * n + l) >> (2 * quarter)) & 3;
                int sc = b[o + 192 + 8 * n + l / 16 + 2 * quarter];
                return half(b, o + 208) * sc * ((nib | h << 4) - 32);
            }
            default:
                throw new IllegalArgumentException(t.toString());
        }
    }

    /** All elements of {@code blocks} blocks, by {@link #element}. */
    static float[] decode(GgmlType t, byte[] b, int blocks) {
        int bs = t.blockSize();
        float[] out = new float[blocks * bs];
        for (int k = 0; k < blocks; k++) {
            for (int i = 0; i < bs; i++) {
                out[k * bs + i] = element(t, b, k * t.typeSize(), i);
            }
        }
        return out;
    }
}
