package grok1j.tensor;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The exact GELU, {@code 0.5 x (1 + erf(x / sqrt 2))}, which Grok-2 uses for its experts and dense MLP (grok-2 spec
 * §2.4; Grok-1's tanh form is {@link TanhGelu}), vectorized for the MLP: {@code g[i] = gelu(g[i]) * u[i]}. Java has
 * no {@code Math.erf}: erf comes from the Chebyshev-fitted complementary error function of Press et al., Numerical
 * Recipes (2nd ed., §6.2, {@code erfcc}), relative error below 1.2e-7 everywhere, so absolute error in erf below
 * 2.4e-7, about 1e-7 in GELU / x, far inside the 2e-3 logit tolerance (the tanh form is 4.7e-4 off). Its exp is
 * {@link TanhGelu}'s (Cody-Waite reduction by ln 2, degree-13 Taylor series, about 1e-16 relative), evaluated in double
 * and rounded to float once. The vector body and the scalar tail ({@link #gelu}) run the same IEEE operations per
 * element, so results do not depend on the vector width, the thread split or the JIT.
 */
public final class ErfGelu {
    private ErfGelu() {}

    /** Doubles per vector: half the float lanes ({@code -Dgrok1j.kernel.lanes=8|16} as for the other kernels). */
    private static final VectorSpecies<Double> D = species();
    /** As many floats as {@link #D} has doubles. */
    private static final VectorSpecies<Float> F = D.length() == 8 ? FloatVector.SPECIES_256 : FloatVector.SPECIES_128;

    private static VectorSpecies<Double> species() {
        Integer lanes = Integer.getInteger("grok1j.kernel.lanes");
        int l = lanes != null ? lanes : FloatVector.SPECIES_PREFERRED.length();
        return l >= 16 ? DoubleVector.SPECIES_512 : DoubleVector.SPECIES_256;
    }

    private static final double INV_SQRT2 = 1 / Math.sqrt(2);
    /** erfcc's Chebyshev coefficients, constant term first. */
    private static final double P0 = -1.26551223, P1 = 1.00002368, P2 = 0.37409196, P3 = 0.09678418;
    private static final double P4 = -0.18628806, P5 = 0.27886807, P6 = -1.13520398, P7 = 1.48851587;
    private static final double P8 = -0.82215223, P9 = 0.17087277;
    // exp: TanhGelu's reduction and series
    private static final double INV_LN2 = TanhGelu.INV_LN2, LN2_HI = TanhGelu.LN2_HI, LN2_LO = TanhGelu.LN2_LO;
    private static final double SHIFT = TanhGelu.SHIFT;
    private static final long SHIFT_BITS = TanhGelu.SHIFT_BITS;
    /** Below it exp would leave the normal range; exp(-708) times t is far below what erf resolves next to 1. */
    private static final double Z_MIN = -708;
    private static final double E2 = TanhGelu.E2, E3 = TanhGelu.E3, E4 = TanhGelu.E4, E5 = TanhGelu.E5;
    private static final double E6 = TanhGelu.E6, E7 = TanhGelu.E7, E8 = TanhGelu.E8, E9 = TanhGelu.E9;
    private static final double E10 = TanhGelu.E10, E11 = TanhGelu.E11, E12 = TanhGelu.E12, E13 = TanhGelu.E13;

    /** {@code g[i] = gelu(g[i]) * u[i]} (float product) for {@code from <= i < to}. */
    public static void geluTimes(float[] g, float[] u, int from, int to) {
        int n = D.length();
        int i = from;
        for (; i + n <= to; i += n) {
            // written out here: a vector passed to a method C2 does not inline is boxed (about 100x slower)
            DoubleVector x = (DoubleVector) FloatVector.fromArray(F, g, i).convertShape(VectorOperators.F2D, D, 0);
            DoubleVector a = x.mul(INV_SQRT2);
            DoubleVector z = a.abs();
            DoubleVector t = DoubleVector.broadcast(D, 1.0).div(z.mul(0.5).add(1.0));
            DoubleVector c = t.mul(P9).add(P8);
            c = t.mul(c).add(P7);
            c = t.mul(c).add(P6);
            c = t.mul(c).add(P5);
            c = t.mul(c).add(P4);
            c = t.mul(c).add(P3);
            c = t.mul(c).add(P2);
            c = t.mul(c).add(P1);
            DoubleVector w = z.mul(z).neg().add(P0).add(t.mul(c)).max(Z_MIN);
            DoubleVector s = w.fma(INV_LN2, SHIFT);
            DoubleVector k = s.sub(SHIFT);
            DoubleVector r = k.fma(DoubleVector.broadcast(D, -LN2_HI), w);
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
            DoubleVector erfc = t.mul(p.mul(scale));
            VectorMask<Double> negative = a.lt(0.0);
            DoubleVector erf = erfc.neg().add(1.0).blend(erfc.sub(1.0), negative);
            DoubleVector y = x.mul(0.5).mul(erf.add(1.0));
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
        return (float) (x * 0.5 * (erf(x * INV_SQRT2) + 1.0));
    }

    /** erf(a) by erfcc (see the class comment), the operations of the vector body. */
    static double erf(double a) {
        double z = Math.abs(a);
        double t = 1.0 / (z * 0.5 + 1.0);
        double c = t * P9 + P8;
        c = t * c + P7;
        c = t * c + P6;
        c = t * c + P5;
        c = t * c + P4;
        c = t * c + P3;
        c = t * c + P2;
        c = t * c + P1;
        double w = Math.max(-(z * z) + P0 + t * c, Z_MIN);
        double erfc = t * TanhGelu.exp(w);
        return a < 0 ? erfc - 1.0 : 1.0 - erfc;
    }

    /**
     * Runs {@link #geluTimes} on dummy data until C2 has compiled it: in C1 code the Vector API falls back to Java
     * (see {@link TanhGelu#warmUp}).
     */
    public static void warmUp() {
        TanhGelu.warmUp(ErfGelu::geluTimes);
    }
}
