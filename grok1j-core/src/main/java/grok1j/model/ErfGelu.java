package grok1j.model;

/**
 * The exact GELU, {@code 0.5 x (1 + erf(x / sqrt 2))}, which Grok-2 uses for its experts and dense MLP (grok-2 spec
 * §2.4; Grok-1's tanh form is {@link grok1j.tensor.Kernels#gelu}). Java has no {@code Math.erf}.
 */
final class ErfGelu {
    private ErfGelu() {}

    private static final double INV_SQRT2 = 1 / Math.sqrt(2);

    /** GELU with the erf below, evaluated in double, rounded once to float. */
    static float gelu(float x) {
        double xd = x;
        return (float) (0.5 * xd * (1 + erf(xd * INV_SQRT2)));
    }

    /**
     * erf(x) from the Chebyshev-fitted complementary error function of Press et al., Numerical Recipes (2nd ed.,
     * §6.2, {@code erfcc}): relative error below 1.2e-7 everywhere, so absolute error in erf below 2.4e-7, i.e.
     * about 1e-7 in GELU / x, far inside the 2e-3 logit tolerance (the tanh form is 4.7e-4 off).
     */
    static double erf(double x) {
        double z = Math.abs(x);
        double t = 1 / (1 + 0.5 * z);
        double poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277))))))));
        double erfc = t * Math.exp(poly);
        return x >= 0 ? 1 - erfc : erfc - 1;
    }
}
