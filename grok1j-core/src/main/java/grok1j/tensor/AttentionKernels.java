package grok1j.tensor;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Attention's dot products and weighted sums for three query heads that share a KV head (grouped-query attention),
 * so each key and value vector is loaded once for three heads. Every score and output element is computed with the
 * same arithmetic as {@link Kernels#dot} and {@link Kernels#axpy} one head and one position at a time (same FMA
 * chains, same fixed-order lane sum, same scalar tail), only the loops are reordered; results are therefore the same
 * bits whichever way a prompt is split into calls. The species is {@link Kernels}' (the preferred one, or the one
 * {@code -Dgrok1j.kernel.lanes=8|16} forces; tests run both on one machine).
 */
public final class AttentionKernels {
    private AttentionKernels() {}

    private static final VectorSpecies<Float> F = Kernels.F;
    private static final int L = F.length();

    /** Float lanes per vector of these kernels. */
    public static int lanes() {
        return L;
    }

    /**
     * {@code out[oh + s] = dot(q[qh, qh+n), keys[k0 + s*stride, +n))} for {@code s < count} and the three heads
     * {@code h = 0, 1, 2} ({@code qh} = {@code q0, q1, q2}; {@code oh} = {@code o0, o1, o2}), each dot as
     * {@link Kernels#dot} computes it.
     */
    public static void dots3(float[] q, int q0, int q1, int q2, float[] keys, int k0, int stride, int count, int n,
                             float[] out, int o0, int o1, int o2) {
        // lane sums through an array: C2 does not inline calls at the end of this method (its graph is too big), and a
        // vector passed to such a call is boxed: ~600 bytes of garbage per pair of keys (300 MB in a 512-token prefill)
        float[] lanes = LaneSum.scratch();
        int s = 0;
        for (; s + 2 <= count; s += 2) {
            int ka = k0 + s * stride, kb = ka + stride;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0;
            FloatVector d0 = a0, d1 = a0, e0 = a0, e1 = a0, f0 = a0, f1 = a0;
            int i = 0;
            for (; i + 2 * L <= n; i += 2 * L) {
                FloatVector x0 = FloatVector.fromArray(F, keys, ka + i), x1 = FloatVector.fromArray(F, keys, ka + i + L);
                FloatVector y0 = FloatVector.fromArray(F, keys, kb + i), y1 = FloatVector.fromArray(F, keys, kb + i + L);
                FloatVector u0 = FloatVector.fromArray(F, q, q0 + i), u1 = FloatVector.fromArray(F, q, q0 + i + L);
                a0 = u0.fma(x0, a0);
                a1 = u1.fma(x1, a1);
                d0 = u0.fma(y0, d0);
                d1 = u1.fma(y1, d1);
                u0 = FloatVector.fromArray(F, q, q1 + i);
                u1 = FloatVector.fromArray(F, q, q1 + i + L);
                b0 = u0.fma(x0, b0);
                b1 = u1.fma(x1, b1);
                e0 = u0.fma(y0, e0);
                e1 = u1.fma(y1, e1);
                u0 = FloatVector.fromArray(F, q, q2 + i);
                u1 = FloatVector.fromArray(F, q, q2 + i + L);
                c0 = u0.fma(x0, c0);
                c1 = u1.fma(x1, c1);
                f0 = u0.fma(y0, f0);
                f1 = u1.fma(y1, f1);
            }
            for (; i + L <= n; i += L) {
                FloatVector x0 = FloatVector.fromArray(F, keys, ka + i);
                FloatVector y0 = FloatVector.fromArray(F, keys, kb + i);
                FloatVector u0 = FloatVector.fromArray(F, q, q0 + i);
                a0 = u0.fma(x0, a0);
                d0 = u0.fma(y0, d0);
                u0 = FloatVector.fromArray(F, q, q1 + i);
                b0 = u0.fma(x0, b0);
                e0 = u0.fma(y0, e0);
                u0 = FloatVector.fromArray(F, q, q2 + i);
                c0 = u0.fma(x0, c0);
                f0 = u0.fma(y0, f0);
            }
            a0.add(a1).intoArray(lanes, 0);
            b0.add(b1).intoArray(lanes, L);
            c0.add(c1).intoArray(lanes, 2 * L);
            d0.add(d1).intoArray(lanes, 3 * L);
            e0.add(e1).intoArray(lanes, 4 * L);
            f0.add(f1).intoArray(lanes, 5 * L);
            out[o0 + s] = finish(LaneSum.sum(lanes, 0, L), q, q0, keys, ka, i, n);
            out[o1 + s] = finish(LaneSum.sum(lanes, L, L), q, q1, keys, ka, i, n);
            out[o2 + s] = finish(LaneSum.sum(lanes, 2 * L, L), q, q2, keys, ka, i, n);
            out[o0 + s + 1] = finish(LaneSum.sum(lanes, 3 * L, L), q, q0, keys, kb, i, n);
            out[o1 + s + 1] = finish(LaneSum.sum(lanes, 4 * L, L), q, q1, keys, kb, i, n);
            out[o2 + s + 1] = finish(LaneSum.sum(lanes, 5 * L, L), q, q2, keys, kb, i, n);
        }
        if (s < count) {
            int ka = k0 + s * stride;
            out[o0 + s] = Kernels.dot(q, q0, keys, ka, n, lanes);
            out[o1 + s] = Kernels.dot(q, q1, keys, ka, n, lanes);
            out[o2 + s] = Kernels.dot(q, q2, keys, ka, n, lanes);
        }
    }

    /**
     * {@code out[o + s] = dot(q[q0, q0+n), keys[k0 + s*stride, +n))} for {@code s < count}: one query head, each dot as
     * {@link Kernels#dot} computes it (the heads of a GQA group that do not fill a {@link #dots3}).
     */
    public static void dots1(float[] q, int q0, float[] keys, int k0, int stride, int count, int n, float[] out, int o) {
        float[] lanes = LaneSum.scratch();
        for (int s = 0; s < count; s++) {
            out[o + s] = Kernels.dot(q, q0, keys, k0 + s * stride, n, lanes);
        }
    }

    /** {@link Kernels#dot}'s scalar tail: adds {@code a[aOff+j]*b[bOff+j]} to {@code sum} for {@code i <= j < n}. */
    private static float finish(float sum, float[] a, int aOff, float[] b, int bOff, int i, int n) {
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /**
     * {@code out[oh, oh+n) = sum over s < count with p[ph+s] != 0 of p[ph+s] * values[v0 + s*stride, +n)} for the
     * three heads ({@code ph} = {@code p0, p1, p2}, {@code oh} = {@code o0, o1, o2}), overwriting {@code out}: the
     * same bits as zero-filling {@code out} and calling {@link Kernels#axpy} for each non-zero weight in order of
     * {@code s}. The output ranges must not overlap {@code values} or {@code p}.
     */
    public static void axpy3(float[] values, int v0, int stride, int count, int n, float[] p, int p0, int p1, int p2,
                             float[] out, int o0, int o1, int o2) {
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            FloatVector zero = FloatVector.zero(F);
            FloatVector a0 = zero, a1 = zero, a2 = zero, a3 = zero;
            FloatVector b0 = zero, b1 = zero, b2 = zero, b3 = zero;
            FloatVector c0 = zero, c1 = zero, c2 = zero, c3 = zero;
            for (int s = 0, v = v0 + i; s < count; s++, v += stride) {
                FloatVector x0 = FloatVector.fromArray(F, values, v);
                FloatVector x1 = FloatVector.fromArray(F, values, v + L);
                FloatVector x2 = FloatVector.fromArray(F, values, v + 2 * L);
                FloatVector x3 = FloatVector.fromArray(F, values, v + 3 * L);
                float w = p[p0 + s];
                if (w != 0f) {
                    FloatVector bw = FloatVector.broadcast(F, w);
                    a0 = x0.fma(bw, a0);
                    a1 = x1.fma(bw, a1);
                    a2 = x2.fma(bw, a2);
                    a3 = x3.fma(bw, a3);
                }
                w = p[p1 + s];
                if (w != 0f) {
                    FloatVector bw = FloatVector.broadcast(F, w);
                    b0 = x0.fma(bw, b0);
                    b1 = x1.fma(bw, b1);
                    b2 = x2.fma(bw, b2);
                    b3 = x3.fma(bw, b3);
                }
                w = p[p2 + s];
                if (w != 0f) {
                    FloatVector bw = FloatVector.broadcast(F, w);
                    c0 = x0.fma(bw, c0);
                    c1 = x1.fma(bw, c1);
                    c2 = x2.fma(bw, c2);
                    c3 = x3.fma(bw, c3);
                }
            }
            a0.intoArray(out, o0 + i);
            a1.intoArray(out, o0 + i + L);
            a2.intoArray(out, o0 + i + 2 * L);
            a3.intoArray(out, o0 + i + 3 * L);
            b0.intoArray(out, o1 + i);
            b1.intoArray(out, o1 + i + L);
            b2.intoArray(out, o1 + i + 2 * L);
            b3.intoArray(out, o1 + i + 3 * L);
            c0.intoArray(out, o2 + i);
            c1.intoArray(out, o2 + i + L);
            c2.intoArray(out, o2 + i + 2 * L);
            c3.intoArray(out, o2 + i + 3 * L);
        }
        for (; i + L <= n; i += L) {
            FloatVector a = FloatVector.zero(F), b = a, c = a;
            for (int s = 0, v = v0 + i; s < count; s++, v += stride) {
                FloatVector x = FloatVector.fromArray(F, values, v);
                float w = p[p0 + s];
                if (w != 0f) {
                    a = x.fma(FloatVector.broadcast(F, w), a);
                }
                w = p[p1 + s];
                if (w != 0f) {
                    b = x.fma(FloatVector.broadcast(F, w), b);
                }
                w = p[p2 + s];
                if (w != 0f) {
                    c = x.fma(FloatVector.broadcast(F, w), c);
                }
            }
            a.intoArray(out, o0 + i);
            b.intoArray(out, o1 + i);
            c.intoArray(out, o2 + i);
        }
        for (; i < n; i++) { // Kernels.axpy's scalar tail: product and sum rounded separately
            float a = 0f, b = 0f, c = 0f;
            for (int s = 0, v = v0 + i; s < count; s++, v += stride) {
                float w = p[p0 + s];
                if (w != 0f) {
                    a += w * values[v];
                }
                w = p[p1 + s];
                if (w != 0f) {
                    b += w * values[v];
                }
                w = p[p2 + s];
                if (w != 0f) {
                    c += w * values[v];
                }
            }
            out[o0 + i] = a;
            out[o1 + i] = b;
            out[o2 + i] = c;
        }
    }

    /** {@code out[o, o+n) = sum over s < count with p[pOff+s] != 0 of p[pOff+s] * values[v0 + s*stride, +n)}: one head of {@link #axpy3}. */
    public static void axpy1(float[] values, int v0, int stride, int count, int n, float[] p, int pOff,
                             float[] out, int o) {
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            for (int s = 0, v = v0 + i; s < count; s++, v += stride) {
                float w = p[pOff + s];
                if (w != 0f) {
                    FloatVector bw = FloatVector.broadcast(F, w);
                    a0 = FloatVector.fromArray(F, values, v).fma(bw, a0);
                    a1 = FloatVector.fromArray(F, values, v + L).fma(bw, a1);
                }
            }
            a0.intoArray(out, o + i);
            a1.intoArray(out, o + i + L);
        }
        for (; i + L <= n; i += L) {
            FloatVector a = FloatVector.zero(F);
            for (int s = 0, v = v0 + i; s < count; s++, v += stride) {
                float w = p[pOff + s];
                if (w != 0f) {
                    a = FloatVector.fromArray(F, values, v).fma(FloatVector.broadcast(F, w), a);
                }
            }
            a.intoArray(out, o + i);
        }
        for (; i < n; i++) {
            float a = 0f;
            for (int s = 0, v = v0 + i; s < count; s++, v += stride) {
                float w = p[pOff + s];
                if (w != 0f) {
                    a += w * values[v];
                }
            }
            out[o + i] = a;
        }
    }

    /**
     * Runs the kernels on small dummy data until C2 has compiled them ({@link WarmUp}: until a round allocates
     * nothing, at most 5 s). A short warm-up prompt calls them only once per (row, KV head), too rarely: the first
     * long prompt would otherwise run them in C1 code, where the Vector API falls back to Java (measured: 5.9 s
     * instead of 0.09 s for the attention of a 512-token Grok-1 layer).
     */
    public static void warmUp() {
        int n = 128, count = 8, stride = 2 * n;
        float[] q = new float[3 * n];
        float[] kv = new float[count * stride];
        float[] p = new float[3 * count];
        float[] out = new float[3 * n];
        for (int i = 0; i < kv.length; i++) {
            kv[i] = (i % 7) * 0.125f;
        }
        Arrays.fill(q, 0.5f);
        Arrays.fill(p, 0.25f);
        int[] round = {0};
        WarmUp.untilCompiled(() -> {
            int r = round[0]++;
            int c = count - (r & 1); // odd and even counts: both paths of dots3 in the profile
            dots3(q, 0, n, 2 * n, kv, 0, stride, c, n, p, 0, count, 2 * count);
            dots1(q, n, kv, 0, stride, c, n, p, 0);
            Arrays.fill(p, 0.25f);
            p[r % p.length] = 0f; // a masked or underflowed weight now and then
            axpy3(kv, n, stride, c, n, p, 0, count, 2 * count, out, 0, n, 2 * n);
            axpy1(kv, n, stride, c, n, p, 0, out, 0);
        }, 2_000, 5_000);
    }
}
