package grok1j.tensor;

/**
 * bfloat16 conversions (spec §3.1): the upper 16 bits of an IEEE float32.
 */
public final class BFloat16 {
    private BFloat16() {}

    /** Widens bfloat16 bits (low 16 bits of {@code bits}) to float32; exact. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Rounds a float32 to the nearest bfloat16, ties to even (XLA's conversion); NaN stays a quiet NaN. */
    public static short fromFloat(float f) {
        int b = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((b >>> 16) | 0x0040);
        }
        b += 0x7FFF + ((b >>> 16) & 1);
        return (short) (b >>> 16);
    }

    /** {@code toFloat(fromFloat(f))}: the value a bf16 rounding point leaves. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }
}
