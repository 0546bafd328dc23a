package grok1j.generate.constraint;

import grok1j.generate.constraint.SchemaNode.StringNode;
import java.util.List;

/**
 * Inside a string, after {@code count} characters (code points; an escape is one). Raw bytes must form valid UTF-8
 * (no surrogates, no overlong forms), control characters must be escaped, and {@code \\u} escapes of surrogates
 * ({@code \\uD800}-{@code \\uDFFF}, and so the rest of {@code \\uDxxx}) are not generated, so every string decodes to
 * exactly the characters counted.
 *
 * @param sub  {@link #NORMAL}, {@link #ESCAPE} after a backslash, {@link #HEX} inside {@code \\u}, {@link #UTF8}
 *             inside a multi-byte character
 * @param need HEX: hex digits still to come; UTF8: continuation bytes still to come
 * @param lo   UTF8: smallest allowed next byte
 * @param hi   UTF8: largest allowed next byte
 */
record StringFrame(StringNode node, int count, int sub, int need, int lo, int hi) implements Frame {
    static final int NORMAL = 0;
    static final int ESCAPE = 1;
    static final int HEX = 2;
    static final int UTF8 = 3;

    @Override
    public void feed(int b, Stack below, List<Stack> out) {
        Frame f = next(b);
        if (f == this) {
            out.add(below); // the closing quote
        } else if (f != null) {
            out.add(new Stack(f, below));
        }
    }

    /** @return the next frame, this frame itself for the closing quote, or null if b is not allowed */
    private Frame next(int b) {
        switch (sub) {
            case ESCAPE -> {
                if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't') {
                    return at(count, NORMAL, 0, 0, 0);
                }
                return b == 'u' ? at(count, HEX, 4, 0, 0) : null;
            }
            case HEX -> {
                boolean hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
                if (!hex || (need == 4 && (b == 'd' || b == 'D'))) {
                    return null;
                }
                return need == 1 ? at(count, NORMAL, 0, 0, 0) : at(count, HEX, need - 1, 0, 0);
            }
            case UTF8 -> {
                if (b < lo || b > hi) {
                    return null;
                }
                return need == 1 ? at(count, NORMAL, 0, 0, 0) : at(count, UTF8, need - 1, 0x80, 0xBF);
            }
            default -> {
                if (b == '"') {
                    return count >= node.minLength ? this : null;
                }
                if (b < 0x20 || (node.maxLength >= 0 && count >= node.maxLength)) {
                    return null;
                }
                int c = count + 1;
                if (b == '\\') {
                    return at(c, ESCAPE, 0, 0, 0);
                }
                if (b < 0x80) {
                    return at(c, NORMAL, 0, 0, 0);
                }
                // the first byte of a multi-byte character: the ranges of RFC 3629 §4
                if (b >= 0xC2 && b <= 0xDF) {
                    return at(c, UTF8, 1, 0x80, 0xBF);
                }
                if (b == 0xE0) {
                    return at(c, UTF8, 2, 0xA0, 0xBF);
                }
                if (b == 0xED) {
                    return at(c, UTF8, 2, 0x80, 0x9F);
                }
                if (b >= 0xE1 && b <= 0xEF) {
                    return at(c, UTF8, 2, 0x80, 0xBF);
                }
                if (b == 0xF0) {
                    return at(c, UTF8, 3, 0x90, 0xBF);
                }
                if (b >= 0xF1 && b <= 0xF3) {
                    return at(c, UTF8, 3, 0x80, 0xBF);
                }
                if (b == 0xF4) {
                    return at(c, UTF8, 3, 0x80, 0x8F);
                }
                return null;
            }
        }
    }

    private StringFrame at(int c, int s, int n, int l, int h) {
        return new StringFrame(node, c, s, n, l, h);
    }

    @Override
    public boolean canEnd() {
        return false;
    }

    @Override
    public int cost() {
        int pending = sub == NORMAL ? 0 : sub == ESCAPE ? 1 : need;
        return pending + Math.max(0, node.minLength - count) + 1;
    }

    @Override
    public Frame maskKey(int maxTokenBytes) {
        // past minLength and far from maxLength, the count cannot change which token fits
        boolean exact = count < node.minLength || (node.maxLength >= 0 && node.maxLength - count < maxTokenBytes);
        return exact || count == -1 ? this : new StringFrame(node, -1, sub, need, lo, hi);
    }
}
