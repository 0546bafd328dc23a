package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Scalar dequantization of ggml blocks to float32, one method per type, written from the block layouts in spec
 * kernels.md §3 (ggml {@code ggml-common.h} structs, {@code ggml-quants.c} reference dequantizers). The arithmetic
 * follows the reference's order ({@code (d * sc) * q - dmin * m}), so the results equal ggml's bit for bit.
 *
 * <p>This is the reference every vectorized kernel is tested against, and the path for the types that have no
 * dedicated kernel yet. All fields are little-endian; {@code half} fields are IEEE binary16.
 */
public final class GgmlDequant {
    private GgmlDequant() {}

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Dequantizes {@code count} elements stored at byte offset {@code off} of {@code seg} into
     * {@code out[outOff, outOff + count)}.
     *
     * @throws IllegalArgumentException if the type is unsupported or {@code count} is not a whole number of blocks
     */
    public static void dequantize(GgmlType type, MemorySegment seg, long off, float[] out, int outOff, int count) {
        if (count % type.blockSize() != 0) {
            throw new IllegalArgumentException(count + " elements is not a whole number of " + type + " blocks");
        }
        int blocks = count / type.blockSize();
        long bs = type.typeSize();
        for (int b = 0; b < blocks; b++) {
            long o = off + b * bs;
            int y = outOff + b * type.blockSize();
            switch (type) {
                case F32 -> out[y] = seg.get(FLOAT_LE, o);
                case F16 -> out[y] = Float.float16ToFloat(seg.get(SHORT_LE, o));
                case BF16 -> out[y] = BFloat16.toFloat(seg.get(SHORT_LE, o));
                case Q8_0 -> q8_0(seg, o, out, y);
                case Q4_0 -> q4_0(seg, o, out, y);
                case Q4_1 -> q4_1(seg, o, out, y);
                case Q5_0 -> q5_0(seg, o, out, y);
                case Q5_1 -> q5_1(seg, o, out, y);
                case Q2_K -> q2_k(seg, o, out, y);
                case Q3_K -> q3_k(seg, o, out, y);
                case Q4_K -> q4_k(seg, o, out, y);
                case Q5_K -> q5_k(seg, o, out, y);
                case Q6_K -> q6_k(seg, o, out, y);
                default -> throw new IllegalArgumentException("tensor type " + type + " is not supported");
            }
        }
    }

    static float half(MemorySegment s, long o) {
        return Float.float16ToFloat(s.get(SHORT_LE, o));
    }

    static int u8(MemorySegment s, long o) {
        return s.get(ValueLayout.JAVA_BYTE, o) & 0xFF;
    }

    /** Q8_0: {@code d:half, qs:int8[32]}; value {@code d * qs[i]}. */
    static void q8_0(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        for (int i = 0; i < 32; i++) {
            y[yo + i] = s.get(ValueLayout.JAVA_BYTE, o + 2 + i) * d;
        }
    }

    /** Q4_0: {@code d:half, qs:u8[16]}; element j from the low nibble of qs[j], j+16 from the high nibble, minus 8. */
    static void q4_0(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 2 + j);
            y[yo + j] = ((q & 0xF) - 8) * d;
            y[yo + j + 16] = ((q >> 4) - 8) * d;
        }
    }

    /** Q4_1: {@code d:half, m:half, qs:u8[16]}; same nibbles as Q4_0, value {@code q * d + m}. */
    static void q4_1(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        float m = half(s, o + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 4 + j);
            y[yo + j] = (q & 0xF) * d + m;
            y[yo + j + 16] = (q >> 4) * d + m;
        }
    }

    /** Q5_0: {@code d:half, qh:u32, qs:u8[16]}; the fifth bit of element i is bit i of qh; value {@code (q - 16) * d}. */
    static void q5_0(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        int qh = s.get(INT_LE, o + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 6 + j);
            int h0 = ((qh >>> j) & 1) << 4;
            int h1 = ((qh >>> (j + 16)) & 1) << 4;
            y[yo + j] = (((q & 0xF) | h0) - 16) * d;
            y[yo + j + 16] = (((q >> 4) | h1) - 16) * d;
        }
    }

    /** Q5_1: {@code d:half, m:half, qh:u32, qs:u8[16]}; bits as Q5_0, value {@code q * d + m}. */
    static void q5_1(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        float m = half(s, o + 2);
        int qh = s.get(INT_LE, o + 4);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 8 + j);
            int h0 = ((qh >>> j) & 1) << 4;
            int h1 = ((qh >>> (j + 16)) & 1) << 4;
            y[yo + j] = ((q & 0xF) | h0) * d + m;
            y[yo + j + 16] = ((q >> 4) | h1) * d + m;
        }
    }

    /**
     * Q2_K: {@code scales:u8[16] @0, qs:u8[64] @16, d:half @80, dmin:half @82}. Per 128-half (qs advances 32 bytes)
     * and per 2-bit plane j, two 16-element sub-blocks read {@code qs[l] >> 2j & 3} and {@code qs[l+16] >> 2j & 3};
     * sub-block scale byte: low nibble scales d, high nibble scales dmin.
     */
    static void q2_k(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o + 80);
        float min = half(s, o + 82);
        int is = 0;
        int yi = yo;
        for (int n = 0; n < 2; n++) {
            long q = o + 16 + 32L * n;
            for (int j = 0; j < 4; j++) {
                int shift = 2 * j;
                for (int half = 0; half < 2; half++) {
                    int sc = u8(s, o + is++);
                    float dl = d * (sc & 0xF);
                    float ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) {
                        y[yi++] = dl * ((u8(s, q + 16 * half + l) >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    /** The 16 six-bit Q3_K scales (stored with +32) from the 12 scale bytes at {@code o}, minus 32. */
    static void q3kScales(MemorySegment s, long o, int[] sc) {
        for (int i = 0; i < 16; i++) {
            int low = i < 8 ? u8(s, o + i) & 0xF : u8(s, o + i - 8) >> 4;
            int high = (u8(s, o + 8 + i % 4) >> (2 * (i / 4))) & 3;
            sc[i] = (low | (high << 4)) - 32;
        }
    }

    /**
     * Q3_K: {@code hmask:u8[32] @0, qs:u8[64] @32, scales:u8[12] @96, d:half @108}. Low two bits as in Q2_K; the
     * high-bit mask bit {@code m} (one bit per 2-bit plane, 8 planes per superblock) clear means subtract 4.
     */
    static void q3_k(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o + 108);
        int[] sc = new int[16];
        q3kScales(s, o + 96, sc);
        int is = 0;
        int yi = yo;
        int m = 1;
        for (int n = 0; n < 2; n++) {
            long q = o + 32 + 32L * n;
            for (int j = 0; j < 4; j++) {
                int shift = 2 * j;
                for (int half = 0; half < 2; half++) {
                    float dl = d * sc[is++];
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        int q2 = (u8(s, q + l) >> shift) & 3;
                        int hi = (u8(s, o + l) & m) != 0 ? 0 : 4;
                        y[yi++] = dl * (q2 - hi);
                    }
                }
                m <<= 1;
            }
        }
    }

    /** Scale (6 bits) of sub-block j of a Q4_K/Q5_K superblock whose 12 scale bytes start at {@code o}. */
    static int kScale(MemorySegment s, long o, int j) {
        return j < 4 ? u8(s, o + j) & 63 : (u8(s, o + j + 4) & 0xF) | ((u8(s, o + j - 4) >> 6) << 4);
    }

    /** Min (6 bits) of sub-block j of a Q4_K/Q5_K superblock whose 12 scale bytes start at {@code o}. */
    static int kMin(MemorySegment s, long o, int j) {
        return j < 4 ? u8(s, o + j + 4) & 63 : (u8(s, o + j + 4) >> 4) | ((u8(s, o + j) >> 6) << 4);
    }

    /**
     * Q4_K: {@code d:half @0, dmin:half @2, scales:u8[12] @4, qs:u8[128] @16}; 8 sub-blocks of 32 with 6-bit
     * scales and mins; group g of 64 elements uses bytes {@code qs[32g, 32g+32)}, low nibbles first.
     */
    static void q4_k(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        float min = half(s, o + 2);
        for (int g = 0; g < 4; g++) {
            float d1 = d * kScale(s, o + 4, 2 * g);
            float m1 = min * kMin(s, o + 4, 2 * g);
            float d2 = d * kScale(s, o + 4, 2 * g + 1);
            float m2 = min * kMin(s, o + 4, 2 * g + 1);
            long q = o + 16 + 32L * g;
            for (int l = 0; l < 32; l++) {
                int b = u8(s, q + l);
                y[yo + 64 * g + l] = d1 * (b & 0xF) - m1;
                y[yo + 64 * g + 32 + l] = d2 * (b >> 4) - m2;
            }
        }
    }

    /** Q5_K: as Q4_K plus {@code qh:u8[32] @16} (quants move to @48); bit 2g / 2g+1 of qh[l] adds 16. */
    static void q5_k(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o);
        float min = half(s, o + 2);
        for (int g = 0; g < 4; g++) {
            float d1 = d * kScale(s, o + 4, 2 * g);
            float m1 = min * kMin(s, o + 4, 2 * g);
            float d2 = d * kScale(s, o + 4, 2 * g + 1);
            float m2 = min * kMin(s, o + 4, 2 * g + 1);
            long q = o + 48 + 32L * g;
            int u1 = 1 << (2 * g);
            int u2 = 2 << (2 * g);
            for (int l = 0; l < 32; l++) {
                int b = u8(s, q + l);
                int h = u8(s, o + 16 + l);
                y[yo + 64 * g + l] = d1 * ((b & 0xF) + ((h & u1) != 0 ? 16 : 0)) - m1;
                y[yo + 64 * g + 32 + l] = d2 * ((b >> 4) + ((h & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }

    /**
     * Q6_K: {@code ql:u8[128] @0, qh:u8[64] @128, scales:int8[16] @192, d:half @208}. Per 128-half (ql +64, qh +32,
     * scales +8), element l, l+32, l+64, l+96 combine a nibble of ql with two bits of qh, minus 32.
     */
    static void q6_k(MemorySegment s, long o, float[] y, int yo) {
        float d = half(s, o + 208);
        for (int n = 0; n < 2; n++) {
            long ql = o + 64L * n;
            long qh = o + 128 + 32L * n;
            long sc = o + 192 + 8L * n;
            int yb = yo + 128 * n;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int a = u8(s, ql + l);
                int b = u8(s, ql + l + 32);
                int h = u8(s, qh + l);
                int q1 = ((a & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((b & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((b >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[yb + l] = d * s.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                y[yb + l + 32] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                y[yb + l + 64] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                y[yb + l + 96] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
        }
    }
}
