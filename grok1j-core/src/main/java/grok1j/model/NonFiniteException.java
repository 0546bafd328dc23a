package grok1j.model;

/**
 * The logits a step needed held NaN or an infinity: the weights hold such a value (see {@code grok1j inspect
 * --check}) or the activations overflowed float32. The sequence cannot continue; others in the same batch can.
 *
 * <p>{@link #location()} names where the activations first went non-finite when a per-layer re-run found it
 * ({@link Transformer#locateNonFinite}), e.g. {@code "layer 3 expert 5 down projection"}.
 */
public final class NonFiniteException extends ArithmeticException {
    private final String location;

    public NonFiniteException(String message, String location) {
        super(message);
        this.location = location;
    }

    /** Where the activations first went non-finite (e.g. {@code "layer 0 attention output projection"}), or null. */
    public String location() {
        return location;
    }

    /** True if {@code a[off, off+n)} holds NaN or an infinity (one pass, no allocation). */
    public static boolean anyNonFinite(float[] a, int off, int n) {
        // x - x is 0 for finite x and NaN for NaN or ±Inf: one accumulated sum tests a whole row
        float acc = 0f;
        for (int i = off; i < off + n; i++) {
            acc += a[i] - a[i];
        }
        return acc != 0f;
    }
}
