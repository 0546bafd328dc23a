package grok1j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorized dequantization of a run of GGUF blocks to float32, for the prefill GEMM's weight panels
 * ({@link GgufPanelGemm}). Every value equals {@link GgmlDequant}'s bit for bit: the same float operations in the
 * same order ({@code (d * sc) * q - dmin * m}, never fused), only {@code L} elements at a time.
 *
 * <p>Bits are moved with 16-bit-lane shifts and byte masks (x86 has no byte-lane shift, kernels.md §4.2); a bit that
 * picks one of two values per element (Q3_K's high bit) becomes a lane mask. Kernels follow kernels.md §4.3: static
 * final species, one flat method per type, vectors only in locals.
 */
final class GgmlRowDequant {
    private GgmlRowDequant() {}

    private static final int L = GgmlKernels.L;
    private static final VectorSpecies<Float> F = L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = L == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final VectorSpecies<Short> S = L == 16 ? ShortVector.SPECIES_256 : ShortVector.SPECIES_128;
    private static final VectorSpecies<Integer> I = L == 16 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float TWO_POW_112 = 0x1p112f;
    /** 0, 1, ..., 31: the bit of Q5_0/Q5_1's {@code qh} word that element i takes. */
    private static final int[] BIT = java.util.stream.IntStream.range(0, 32).toArray();

    /**
     * Dequantizes {@code count} elements stored at byte offset {@code off} of {@code w} into
     * {@code out[o, o + count)}; {@code count} is a whole number of the type's blocks.
     */
    static void dequantize(GgmlType type, MemorySegment w, long off, float[] out, int o, int count) {
        switch (type) {
            case F32 -> MemorySegment.copy(w, GgmlDequant.FLOAT_LE, off, out, o, count);
            case F16 -> f16(w, off, out, o, count);
            case BF16 -> bf16(w, off, out, o, count);
            case Q8_0 -> q8_0(w, off, out, o, count);
            case Q4_0 -> q4_0(w, off, out, o, count);
            case Q4_1 -> q4_1(w, off, out, o, count);
            case Q5_0 -> q5(w, off, out, o, count, false);
            case Q5_1 -> q5(w, off, out, o, count, true);
            case Q2_K -> q2_k(w, off, out, o, count);
            case Q3_K -> q3_k(w, off, out, o, count);
            case Q4_K -> q4_k(w, off, out, o, count);
            case Q5_K -> q5_k(w, off, out, o, count);
            case Q6_K -> q6_k(w, off, out, o, count);
            default -> GgmlDequant.dequantize(type, w, off, out, o, count);
        }
    }

    /** F16: the widening of {@link GgmlKernels#dotF16} (exact for normals, subnormals, infinities and NaNs). */
    static void f16(MemorySegment w, long off, float[] out, int o, int count) {
        int i = 0;
        for (int bound = F.loopBound(count); i < bound; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector em = h.and(0x7FFF);
            IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
            IntVector bits = shifted.reinterpretAsFloats().mul(TWO_POW_112).reinterpretAsInts();
            VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7C00);
            bits = bits.blend(shifted.or(0x7F80_0000), special)
                    .or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
            bits.reinterpretAsFloats().intoArray(out, o + i);
        }
        for (; i < count; i++) {
            out[o + i] = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2L * i));
        }
    }

    /** BF16: the bits shifted into the upper half of a float. */
    static void bf16(MemorySegment w, long off, float[] out, int o, int count) {
        int i = 0;
        for (int bound = F.loopBound(count); i < bound; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(out, o + i);
        }
        for (; i < count; i++) {
            out[o + i] = BFloat16.toFloat(w.get(GgmlDequant.SHORT_LE, off + 2L * i));
        }
    }

    /** Q8_0: {@code qs[i] * d} per 34-byte block. */
    static void q8_0(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 32, off += 34) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            for (int j = 0; j < 32; j += L) {
                ((FloatVector) ByteVector.fromMemorySegment(B, w, off + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0))
                        .mul(d).intoArray(out, o + i + j);
            }
        }
    }

    /** Q4_0: {@code (nibble - 8) * d}; low nibbles are elements 0..15, high nibbles 16..31. */
    static void q4_0(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 32, off += 18) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            for (int j = 0; j < 16; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, w, off + 2 + j, LE);
                ByteVector lo = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                        .and((byte) 0x0F).sub((byte) 8);
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(out, o + i + j);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(out, o + i + 16 + j);
            }
        }
    }

    /** Q4_1: {@code nibble * d + m}, nibbles as Q4_0. */
    static void q4_1(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 32, off += 20) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            float m = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2));
            for (int j = 0; j < 16; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, w, off + 4 + j, LE);
                ByteVector lo = q.and((byte) 0x0F);
                ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                        .and((byte) 0x0F);
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(d).add(m).intoArray(out, o + i + j);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(d).add(m).intoArray(out, o + i + 16 + j);
            }
        }
    }

    /**
     * Q5_0 ({@code d, qh:u32, qs[16]}, value {@code (q - 16) * d}) or, with {@code hasMin}, Q5_1 ({@code d, m, qh,
     * qs[16]}, value {@code q * d + m}); the fifth bit of element i is bit i of {@code qh}, taken in int lanes.
     */
    static void q5(MemorySegment w, long off, float[] out, int o, int count, boolean hasMin) {
        int bytes = hasMin ? 24 : 22;
        int qhAt = hasMin ? 4 : 2;
        for (int i = 0; i < count; i += 32, off += bytes) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            float m = hasMin ? Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2)) : 0f;
            IntVector qh = IntVector.broadcast(I, w.get(GgmlDequant.INT_LE, off + qhAt));
            for (int j = 0; j < 16; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, w, off + qhAt + 4 + j, LE);
                IntVector lo = (IntVector) q.and((byte) 0x0F).convertShape(VectorOperators.B2I, I, 0);
                IntVector hi = (IntVector) q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                        .and((byte) 0x0F).convertShape(VectorOperators.B2I, I, 0);
                IntVector h0 = qh.lanewise(VectorOperators.LSHR, IntVector.fromArray(I, BIT, j)).and(1)
                        .lanewise(VectorOperators.LSHL, 4);
                IntVector h1 = qh.lanewise(VectorOperators.LSHR, IntVector.fromArray(I, BIT, 16 + j)).and(1)
                        .lanewise(VectorOperators.LSHL, 4);
                FloatVector v0 = (FloatVector) lo.or(h0).convertShape(VectorOperators.I2F, F, 0);
                FloatVector v1 = (FloatVector) hi.or(h1).convertShape(VectorOperators.I2F, F, 0);
                if (hasMin) {
                    v0.mul(d).add(m).intoArray(out, o + i + j);
                    v1.mul(d).add(m).intoArray(out, o + i + 16 + j);
                } else {
                    v0.sub(16f).mul(d).intoArray(out, o + i + j);
                    v1.sub(16f).mul(d).intoArray(out, o + i + 16 + j);
                }
            }
        }
    }

    /**
     * Q2_K: per 84-byte superblock ({@code scales[16], qs[64], d, dmin}), for each 128-half n and 2-bit plane j, two
     * sub-blocks of 16: {@code (d * (sc & 15)) * (qs[l] >> 2j & 3) - dmin * (sc >> 4)}.
     */
    static void q2_k(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 256, off += 84) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 80));
            float dmin = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 82));
            for (int n = 0; n < 2; n++) {
                for (int half = 0; half < 2; half++) {
                    for (int l = 0; l < 16; l += L) {
                        ByteVector q = ByteVector.fromMemorySegment(B, w, off + 16 + 32L * n + 16 * half + l, LE);
                        ShortVector qs = q.reinterpretAsShorts();
                        for (int j = 0; j < 4; j++) {
                            int sc = w.get(ValueLayout.JAVA_BYTE, off + 8 * n + 2 * j + half) & 0xFF;
                            float dl = d * (sc & 0xF);
                            float ml = dmin * (sc >> 4);
                            ByteVector v = qs.lanewise(VectorOperators.LSHR, 2 * j).reinterpretAsBytes().and((byte) 3);
                            ((FloatVector) v.convertShape(VectorOperators.B2F, F, 0)).mul(dl).sub(ml)
                                    .intoArray(out, o + i + 128 * n + 32 * j + 16 * half + l);
                        }
                    }
                }
            }
        }
    }

    /**
     * Q3_K: per 110-byte superblock ({@code hmask[32], qs[64], scales[12], d}), the low two bits as in Q2_K; where
     * the plane's bit of {@code hmask} is clear the value is 4 lower. Scale i (6 bits, stored +32) as in
     * {@link GgmlDequant#q3kScales}.
     */
    static void q3_k(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 256, off += 110) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 108));
            long sc = off + 96;
            for (int n = 0; n < 2; n++) {
                for (int half = 0; half < 2; half++) {
                    for (int l = 0; l < 16; l += L) {
                        ByteVector q = ByteVector.fromMemorySegment(B, w, off + 32 + 32L * n + 16 * half + l, LE);
                        ByteVector h = ByteVector.fromMemorySegment(B, w, off + 16 * half + l, LE);
                        ShortVector qs = q.reinterpretAsShorts();
                        for (int j = 0; j < 4; j++) {
                            int is = 8 * n + 2 * j + half;
                            int low = is < 8 ? w.get(ValueLayout.JAVA_BYTE, sc + is) & 0xF
                                    : (w.get(ValueLayout.JAVA_BYTE, sc + is - 8) & 0xFF) >> 4;
                            int high = ((w.get(ValueLayout.JAVA_BYTE, sc + 8 + is % 4) & 0xFF) >> (2 * (is / 4))) & 3;
                            float dl = d * ((low | (high << 4)) - 32);
                            ByteVector q2 = qs.lanewise(VectorOperators.LSHR, 2 * j).reinterpretAsBytes().and((byte) 3);
                            VectorMask<Byte> set = h.and((byte) (1 << (4 * n + j))).compare(VectorOperators.NE, (byte) 0);
                            ByteVector v = q2.sub((byte) 4).blend(q2, set);
                            ((FloatVector) v.convertShape(VectorOperators.B2F, F, 0)).mul(dl)
                                    .intoArray(out, o + i + 128 * n + 32 * j + 16 * half + l);
                        }
                    }
                }
            }
        }
    }

    /**
     * Q4_K: per 144-byte superblock, group g of 64 elements reads 32 bytes; low nibbles are sub-block 2g, high
     * nibbles 2g+1, each {@code (d * sc) * q - dmin * m} (scales unpacked with the word masks of kernels.md §3 (c)).
     */
    static void q4_k(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 256, off += 144) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            float dmin = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2));
            int u0 = w.get(GgmlDequant.INT_LE, off + 4);
            int u1 = w.get(GgmlDequant.INT_LE, off + 8);
            int u2 = w.get(GgmlDequant.INT_LE, off + 12);
            int sc03 = u0 & 0x3F3F3F3F;
            int mn03 = u1 & 0x3F3F3F3F;
            int sc47 = (u2 & 0x0F0F0F0F) | (((u0 >>> 6) & 0x03030303) << 4);
            int mn47 = ((u2 >>> 4) & 0x0F0F0F0F) | (((u1 >>> 6) & 0x03030303) << 4);
            for (int g = 0; g < 4; g++) {
                int scw = g < 2 ? sc03 : sc47;
                int mnw = g < 2 ? mn03 : mn47;
                int sh = 16 * (g & 1);
                float dLo = d * ((scw >>> sh) & 0xFF);
                float dHi = d * ((scw >>> (sh + 8)) & 0xFF);
                float mLo = dmin * ((mnw >>> sh) & 0xFF);
                float mHi = dmin * ((mnw >>> (sh + 8)) & 0xFF);
                long qo = off + 16 + 32L * g;
                int yo = o + i + 64 * g;
                for (int j = 0; j < 32; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, w, qo + j, LE);
                    ByteVector lo = q.and((byte) 0x0F);
                    ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F);
                    ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(dLo).sub(mLo).intoArray(out, yo + j);
                    ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(dHi).sub(mHi).intoArray(out, yo + 32 + j);
                }
            }
        }
    }

    /**
     * Q5_K: Q4_K's scales and nibbles ({@code qs} at byte 48) plus a fifth bit from {@code qh[32]} at byte 16: bit
     * 2g of {@code qh[l]} for element 64g + l, bit 2g+1 for 64g + 32 + l.
     */
    static void q5_k(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 256, off += 176) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off));
            float dmin = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 2));
            int u0 = w.get(GgmlDequant.INT_LE, off + 4);
            int u1 = w.get(GgmlDequant.INT_LE, off + 8);
            int u2 = w.get(GgmlDequant.INT_LE, off + 12);
            int sc03 = u0 & 0x3F3F3F3F;
            int mn03 = u1 & 0x3F3F3F3F;
            int sc47 = (u2 & 0x0F0F0F0F) | (((u0 >>> 6) & 0x03030303) << 4);
            int mn47 = ((u2 >>> 4) & 0x0F0F0F0F) | (((u1 >>> 6) & 0x03030303) << 4);
            for (int g = 0; g < 4; g++) {
                int scw = g < 2 ? sc03 : sc47;
                int mnw = g < 2 ? mn03 : mn47;
                int sh = 16 * (g & 1);
                float dLo = d * ((scw >>> sh) & 0xFF);
                float dHi = d * ((scw >>> (sh + 8)) & 0xFF);
                float mLo = dmin * ((mnw >>> sh) & 0xFF);
                float mHi = dmin * ((mnw >>> (sh + 8)) & 0xFF);
                long qo = off + 48 + 32L * g;
                int yo = o + i + 64 * g;
                for (int j = 0; j < 32; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, w, qo + j, LE);
                    ShortVector hs = ByteVector.fromMemorySegment(B, w, off + 16 + j, LE).reinterpretAsShorts();
                    // bit 2g (2g+1) of each byte to bit 4: shifts within 16-bit lanes, then the byte mask
                    ByteVector h1 = (2 * g <= 4 ? hs.lanewise(VectorOperators.LSHL, 4 - 2 * g)
                            : hs.lanewise(VectorOperators.LSHR, 2 * g - 4)).reinterpretAsBytes().and((byte) 0x10);
                    ByteVector h2 = (2 * g + 1 <= 4 ? hs.lanewise(VectorOperators.LSHL, 3 - 2 * g)
                            : hs.lanewise(VectorOperators.LSHR, 2 * g - 3)).reinterpretAsBytes().and((byte) 0x10);
                    ByteVector lo = q.and((byte) 0x0F).or(h1);
                    ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F).or(h2);
                    ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(dLo).sub(mLo).intoArray(out, yo + j);
                    ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(dHi).sub(mHi).intoArray(out, yo + 32 + j);
                }
            }
        }
    }

    /**
     * Q6_K: per 210-byte superblock, two halves of 128; elements l, l+32, l+64, l+96 of a half combine a nibble of
     * {@code ql} with two bits of {@code qh} (moved to bits 4-5 as in {@link GgmlKernels#dotQ6_K}), minus 32, times
     * {@code d * sc}.
     */
    static void q6_k(MemorySegment w, long off, float[] out, int o, int count) {
        for (int i = 0; i < count; i += 256, off += 210) {
            float d = Float.float16ToFloat(w.get(GgmlDequant.SHORT_LE, off + 208));
            for (int n = 0; n < 2; n++) {
                long ql = off + 64L * n;
                long qh = off + 128 + 32L * n;
                long sc = off + 192 + 8L * n;
                for (int l = 0; l < 32; l += L) {
                    int c = l / 16; // elements 0-15 and 16-31 of a quarter have their own scale
                    ByteVector a = ByteVector.fromMemorySegment(B, w, ql + l, LE);
                    ByteVector b = ByteVector.fromMemorySegment(B, w, ql + 32 + l, LE);
                    ByteVector h = ByteVector.fromMemorySegment(B, w, qh + l, LE);
                    ShortVector hs = h.reinterpretAsShorts();
                    ByteVector h1 = hs.lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30);
                    ByteVector h2 = hs.lanewise(VectorOperators.LSHL, 2).reinterpretAsBytes().and((byte) 0x30);
                    ByteVector h3 = h.and((byte) 0x30);
                    ByteVector h4 = hs.lanewise(VectorOperators.LSHR, 2).reinterpretAsBytes().and((byte) 0x30);
                    ByteVector ahi = a.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
                    ByteVector bhi = b.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
                    float s1 = d * w.get(ValueLayout.JAVA_BYTE, sc + c);
                    float s2 = d * w.get(ValueLayout.JAVA_BYTE, sc + c + 2);
                    float s3 = d * w.get(ValueLayout.JAVA_BYTE, sc + c + 4);
                    float s4 = d * w.get(ValueLayout.JAVA_BYTE, sc + c + 6);
                    int yo = o + i + 128 * n + l;
                    ((FloatVector) a.and((byte) 0x0F).or(h1).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                            .mul(s1).intoArray(out, yo);
                    ((FloatVector) b.and((byte) 0x0F).or(h2).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                            .mul(s2).intoArray(out, yo + 32);
                    ((FloatVector) ahi.or(h3).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                            .mul(s3).intoArray(out, yo + 64);
                    ((FloatVector) bhi.or(h4).sub((byte) 32).convertShape(VectorOperators.B2F, F, 0))
                            .mul(s4).intoArray(out, yo + 96);
                }
            }
        }
    }
}
