package grok1j.tensor;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorized {@link Kernels#gelu} (tanh form, spec §3.8) for the expert MLP: {@code g[i] = gelu(g[i]) * u[i]}.
 * Evaluated in double as {@link Kernels#gelu} does, with {@code tanh(v) = ±(1 - 2e/(1+e))}, {@code e = exp(-2|v|)}
 * from our own FMA polynomial (Cody-Waite reduction by ln 2, degree-13 Taylor series, error about 1e-16 relative),
 * rounded to float once. The double result differs from the one through {@code Math.tanh} by a few double ulps at
 * most, so the float rarely differs at all (see TanhGeluTest for the count). {@code 1 - y} keeps {@code 1 + tanh(v)}
 * relatively accurate for large negative {@code v}, where the float result is tiny. The vector body and the scalar
 * tail run the same IEEE operations per element, so results do not depend on the vector width, the thread split or
 * the JIT ({@code VectorOperators.TANH}/{@code EXP} would: their SVML results vary with width and JDK).
 */
public final class TanhGelu {
    private TanhGelu() {}

    /** Doubles per vector: half the float lanes ({@code -Dgrok1j.kernel.lanes=8|16} as for the other kernels). */
    private static final VectorSpecies<Double> D = species();
    /** As many floats as {@link #D} has doubles. */
    private static final VectorSpecies<Float> F = D.length() == 8 ? FloatVector.SPECIES_256 : FloatVector.SPECIES_128;

    private static VectorSpecies<Double> species() {
        Integer lanes = Integer.getInteger("grok1j.kernel.lanes");
        int l = lanes != null ? lanes : FloatVector.SPECIES_PREFERRED.length();
        return l >= 16 ? DoubleVector.SPECIES_512 : DoubleVector.SPECIES_256;
    }

    private static final double C = Math.sqrt(2.0 / Math.PI);
    static final double INV_LN2 = 1.4426950408889634;
    /** ln 2 split so that {@code k * LN2_HI} is exact for the k that occur. */
    static final double LN2_HI = 0.6931471803691238;
    static final double LN2_LO = 1.9082149292705877e-10;
    /** Adding it rounds a double of magnitude below 2^51 to an integer, kept in the low mantissa bits. */
    static final double SHIFT = 0x1.8p52;
    static final long SHIFT_BITS = Double.doubleToRawLongBits(SHIFT);
    /** Below it exp would leave the normal range; exp(-708) is far below what tanh can resolve. */
    private static final double Z_MIN = -708;
    /** 1/n! for n = 2..13, Taylor coefficients of exp. */
    private static final double[] INV_FACT = new double[14];

    static {
        double f = 1;
        for (int n = 1; n < INV_FACT.length; n++) {
            f *= n;
            INV_FACT[n] = 1 / f;
        }
    }

    static final double E2 = INV_FACT[2], E3 = INV_FACT[3], E4 = INV_FACT[4], E5 = INV_FACT[5];
    static final double E6 = INV_FACT[6], E7 = INV_FACT[7], E8 = INV_FACT[8], E9 = INV_FACT[9];
    static final double E10 = INV_FACT[10], E11 = INV_FACT[11], E12 = INV_FACT[12], E13 = INV_FACT[13];

    /** {@code g[i] = gelu(g[i]) * u[i]} (float product) for {@code from <= i < to}. */
    public static void geluTimes(float[] g, float[] u, int from, int to) {
        int n = D.length();
        int i = from;
        for (; i + n <= to; i += n) {
            // written out here: a vector passed to a method C2 does not inline is boxed (about 100x slower)
            DoubleVector x = (DoubleVector) FloatVector.fromArray(F, g, i).convertShape(VectorOperators.F2D, D, 0);
            DoubleVector v = x.mul(0.044715).mul(x).mul(x).add(x).mul(C);
            DoubleVector z = v.abs().mul(-2.0).max(Z_MIN);
            DoubleVector s = z.fma(INV_LN2, SHIFT);
            DoubleVector k = s.sub(SHIFT);
            DoubleVector r = k.fma(DoubleVector.broadcast(D, -LN2_HI), z);
            r = k.fma(DoubleVector.broadcast(D, -LN2_LO), r);
            DoubleVector p = r.fma(DoubleVector.broadcast(D, E13), DoubleVector.broadcast(D, E12));
            p = p.fma(r, DoubleVector.broadcast(D, E11));
            p = p.fma(r, DoubleVector.broadcast(D, E10));
            p = p.fma(r, DoubleVector.broadcast(D, E9));
            p = p.fma(r, DoubleVector.broadcast(D, E8));
            p = p.fma(r, DoubleVector.broadcast(D, E7));
            p = p.fma(r, DoubleVector.broadcast(D, E6));
            p = p.fma(r, DoubleVector.broadcast(D, E5));
            p = p.fma(r, DoubleVector.broadcast(D, E4));
            p = p.fma(r, DoubleVector.broadcast(D, E3));
            p = p.fma(r, DoubleVector.broadcast(D, E2));
            p = p.fma(r, DoubleVector.broadcast(D, 1.0));
            p = p.fma(r, DoubleVector.broadcast(D, 1.0));
            LongVector bits = (LongVector) s.reinterpretAsLongs();
            DoubleVector scale = bits.sub(SHIFT_BITS - 1023).lanewise(VectorOperators.LSHL, 52).reinterpretAsDoubles();
            DoubleVector e = p.mul(scale);
            DoubleVector t = e.add(e).div(e.add(1.0)).neg().add(1.0);
            VectorMask<Double> negative = v.lt(0.0);
            t = t.blend(t.neg(), negative);
            DoubleVector y = x.mul(0.5).mul(t.add(1.0));
            FloatVector out = (FloatVector) y.convertShape(VectorOperators.D2F, F, 0);
            out.mul(FloatVector.fromArray(F, u, i)).intoArray(g, i);
        }
        for (; i < to; i++) {
            g[i] = gelu(g[i]) * u[i];
        }
    }

    /** GELU of one float, the same operations as the vector body. */
    public static float gelu(float xf) {
        double x = xf;
        double v = C * (x + 0.044715 * x * x * x);
        double z = Math.max(Math.abs(v) * -2.0, Z_MIN);
        double e = exp(z);
        double t = 1.0 - (e + e) / (1.0 + e);
        if (v < 0) {
            t = -t;
        }
        return (float) (0.5 * x * (1.0 + t));
    }

    /**
     * {@code e^z} for {@code z} in {@code [-708, 0]}: the operations of the vector bodies (here and in {@link ErfGelu}),
     * Cody-Waite reduction by ln 2 and the degree-13 Taylor series, about 1e-16 relative.
     */
    static double exp(double z) {
        double s = Math.fma(z, INV_LN2, SHIFT);
        double k = s - SHIFT;
        double r = Math.fma(k, -LN2_HI, z);
        r = Math.fma(k, -LN2_LO, r);
        double p = Math.fma(E13, r, E12);
        p = Math.fma(p, r, E11);
        p = Math.fma(p, r, E10);
        p = Math.fma(p, r, E9);
        p = Math.fma(p, r, E8);
        p = Math.fma(p, r, E7);
        p = Math.fma(p, r, E6);
        p = Math.fma(p, r, E5);
        p = Math.fma(p, r, E4);
        p = Math.fma(p, r, E3);
        p = Math.fma(p, r, E2);
        p = Math.fma(p, r, 1.0);
        p = Math.fma(p, r, 1.0);
        double scale = Double.longBitsToDouble((Double.doubleToRawLongBits(s) - SHIFT_BITS + 1023) << 52);
        return p * scale;
    }

    /** A GELU-times-up kernel ({@link #geluTimes}, {@link ErfGelu#geluTimes}), for {@link #warmUp(Kernel)}. */
    interface Kernel {
        void geluTimes(float[] g, float[] u, int from, int to);
    }

    /**
     * Runs {@link #geluTimes} on dummy data until C2 has compiled it: in C1 code the Vector API falls back to Java
     * (measured: 1.9 s instead of 0.1 s for the GELUs of a 512-token Grok-1 layer).
     */
    public static void warmUp() {
        warmUp(TanhGelu::geluTimes);
    }

    /** Runs {@code kernel} on dummy data until C2 has compiled it ({@link WarmUp}, at most 5 s). */
    static void warmUp(Kernel kernel) {
        float[] g = new float[1027];
        float[] u = new float[g.length];
        int[] round = {0};
        WarmUp.untilCompiled(() -> {
            for (int i = 0; i < g.length; i++) {
                g[i] = (i - 500) * 0.01f;
                u[i] = 1f;
            }
            kernel.geluTimes(g, u, round[0]++ % 3, g.length);
        }, 300, 5_000);
    }
}
