package grok1j.generate.constraint;

import java.util.List;

/**
 * Inside a number: {@code -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?}, or for an integer only
 * {@code -? (0 | [1-9][0-9]*)}. Digit runs are bounded ({@link #MAX_DIGITS} in the integer and fraction parts,
 * {@link #MAX_EXPONENT_DIGITS} in the exponent) so every number is a finite double and fits a 64-bit integer.
 *
 * @param digits digits in the current run
 */
record NumberFrame(boolean integer, int part, int digits) implements Frame {
    static final int SIGN = 0;
    static final int ZERO = 1;
    static final int INT = 2;
    static final int DOT = 3;
    static final int FRAC = 4;
    static final int E = 5;
    static final int EXP_SIGN = 6;
    static final int EXP = 7;
    static final int MAX_DIGITS = 15;
    static final int MAX_EXPONENT_DIGITS = 2;

    @Override
    public void feed(int b, Stack below, List<Stack> out) {
        NumberFrame f = next(b);
        if (f != null) {
            out.add(new Stack(f, below));
        }
    }

    private NumberFrame next(int b) {
        boolean digit = b >= '0' && b <= '9';
        boolean fractionOrExponent = !integer && (b == '.' || b == 'e' || b == 'E');
        return switch (part) {
            case SIGN -> b == '0' ? to(ZERO, 1) : digit ? to(INT, 1) : null;
            case ZERO -> fractionOrExponent ? afterMantissa(b) : null;
            case INT -> digit && digits < MAX_DIGITS ? to(INT, digits + 1) : fractionOrExponent ? afterMantissa(b) : null;
            case DOT -> digit ? to(FRAC, 1) : null;
            case FRAC -> digit && digits < MAX_DIGITS ? to(FRAC, digits + 1) : b == 'e' || b == 'E' ? to(E, 0) : null;
            case E -> b == '+' || b == '-' ? to(EXP_SIGN, 0) : digit ? to(EXP, 1) : null;
            case EXP_SIGN -> digit ? to(EXP, 1) : null;
            default -> digit && digits < MAX_EXPONENT_DIGITS ? to(EXP, digits + 1) : null; // EXP
        };
    }

    private NumberFrame afterMantissa(int b) {
        return b == '.' ? to(DOT, 0) : to(E, 0);
    }

    private NumberFrame to(int p, int d) {
        return new NumberFrame(integer, p, d);
    }

    @Override
    public boolean canEnd() {
        return part == ZERO || part == INT || part == FRAC || part == EXP;
    }

    @Override
    public int cost() {
        return canEnd() ? 0 : 1;
    }
}
