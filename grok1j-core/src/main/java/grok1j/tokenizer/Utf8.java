package grok1j.tokenizer;

/**
 * UTF-8 helpers with SentencePiece's error granularity.
 *
 * <p>SentencePiece decodes byte pieces one character at a time and, when the bytes at the current position are not a
 * complete well-formed character, emits one U+FFFD and advances by <em>one</em> byte (spec §7.3). Java's own decoder
 * replaces a whole "maximal subpart" with a single U+FFFD instead (three bytes F0 9F 98 of a cut emoji give one
 * U+FFFD in Java, three in SentencePiece), so grok1j decodes byte runs here.
 *
 * <p>"Well-formed" is the Unicode table of well-formed byte sequences (no overlong forms, no surrogates, nothing above
 * U+10FFFF), which is exactly what SentencePiece's decoder accepts.
 */
final class Utf8 {
    /** {@link #classify} result: the bytes at the position can never start a well-formed character. */
    static final int INVALID = 0;
    /** {@link #classify} result: a proper prefix of a well-formed character; more bytes are needed to decide. */
    static final int INCOMPLETE = -1;

    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    /**
     * Looks at the character starting at {@code bytes[pos]}, using only bytes before {@code end}.
     *
     * @return its length 1-4 if it is complete and well-formed, {@link #INCOMPLETE} if the available bytes are a prefix
     *     of some well-formed character, otherwise {@link #INVALID}
     */
    static int classify(byte[] bytes, int pos, int end) {
        int lead = bytes[pos] & 0xFF;
        if (lead < 0x80) {
            return 1;
        }
        int length;
        // The second byte has a narrower range for a few lead bytes: that is what excludes overlong forms
        // (E0, F0), UTF-16 surrogates (ED) and code points above U+10FFFF (F4).
        int secondMin = 0x80;
        int secondMax = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) {
                secondMin = 0xA0;
            } else if (lead == 0xED) {
                secondMax = 0x9F;
            }
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) {
                secondMin = 0x90;
            } else if (lead == 0xF4) {
                secondMax = 0x8F;
            }
        } else {
            return INVALID; // continuation byte, C0/C1 (always overlong) or F5..FF
        }
        for (int i = 1; i < length; i++) {
            if (pos + i >= end) {
                return INCOMPLETE;
            }
            int b = bytes[pos + i] & 0xFF;
            int min = i == 1 ? secondMin : 0x80;
            int max = i == 1 ? secondMax : 0xBF;
            if (b < min || b > max) {
                return INVALID;
            }
        }
        return length;
    }

    /** The code point of a character that {@link #classify} reported as complete with {@code length} bytes. */
    static int codePoint(byte[] bytes, int pos, int length) {
        int lead = bytes[pos] & 0xFF;
        int cp = switch (length) {
            case 1 -> lead;
            case 2 -> lead & 0x1F;
            case 3 -> lead & 0x0F;
            default -> lead & 0x07;
        };
        for (int i = 1; i < length; i++) {
            cp = (cp << 6) | (bytes[pos + i] & 0x3F);
        }
        return cp;
    }

    /**
     * Decodes a finished run of bytes the way SentencePiece decodes consecutive byte pieces: each well-formed character
     * as itself, every other byte as one U+FFFD (a run that ends inside a character yields one U+FFFD per byte).
     */
    static void decodeRun(byte[] bytes, int from, int to, StringBuilder out) {
        int pos = from;
        while (pos < to) {
            int length = classify(bytes, pos, to);
            if (length > 0) {
                out.appendCodePoint(codePoint(bytes, pos, length));
                pos += length;
            } else {
                out.append(REPLACEMENT);
                pos++;
            }
        }
    }

    /** @return true if {@code bytes[from, to)} is entirely well-formed UTF-8 */
    static boolean isWellFormed(byte[] bytes, int from, int to) {
        int pos = from;
        while (pos < to) {
            int length = classify(bytes, pos, to);
            if (length <= 0) {
                return false;
            }
            pos += length;
        }
        return true;
    }

    /**
     * Writes the UTF-8 encoding of a code point (U+0000..U+10FFFF, not a surrogate) into {@code out} at {@code off}.
     *
     * @return the number of bytes written, 1-4
     */
    static int encode(int cp, byte[] out, int off) {
        if (cp < 0x80) {
            out[off] = (byte) cp;
            return 1;
        }
        if (cp < 0x800) {
            out[off] = (byte) (0xC0 | cp >> 6);
            out[off + 1] = (byte) (0x80 | cp & 0x3F);
            return 2;
        }
        if (cp < 0x10000) {
            out[off] = (byte) (0xE0 | cp >> 12);
            out[off + 1] = (byte) (0x80 | cp >> 6 & 0x3F);
            out[off + 2] = (byte) (0x80 | cp & 0x3F);
            return 3;
        }
        out[off] = (byte) (0xF0 | cp >> 18);
        out[off + 1] = (byte) (0x80 | cp >> 12 & 0x3F);
        out[off + 2] = (byte) (0x80 | cp >> 6 & 0x3F);
        out[off + 3] = (byte) (0x80 | cp & 0x3F);
        return 4;
    }
}
