package grok1j.tokenizer;

/**
 * The {@link StreamingDecoder} of {@link SentencePieceTokenizer}.
 *
 * <p>Byte-fallback pieces ({@code <0xXX>}) carry single UTF-8 bytes, so a character outside the vocabulary arrives
 * as 2-4 consecutive ids (the emoji 😀 is {@code <0xF0> <0x9F> <0x98> <0x80>}). The decoder holds back bytes that
 * are a proper prefix of a well-formed UTF-8 character until the character is complete. Bytes that can no longer
 * become a character, and held-back bytes when a non-byte piece arrives or {@link #flush()} is called, become one
 * U+FFFD each, exactly as SentencePiece decodes them (spec §7.3).
 *
 * <p>The concatenation of everything {@link #push(int)} and {@link #flush()} return equals
 * {@link SentencePieceTokenizer#decode(int[])} of the same ids (decode is implemented with this class). That includes the
 * add_dummy_prefix rule: the leading "▁" of the first piece that starts the text is dropped, so "▁Hello" as the
 * first piece streams as "Hello". {@link SentencePieceTokenizer#streamingDecoder(boolean)} with {@code false} keeps it,
 * e.g. when the stream continues text that is already displayed.
 *
 * <p>Not thread-safe; use one instance per stream.
 */
final class SentencePieceDecoder implements StreamingDecoder {
    private static final String SPACE_SYMBOL = "\u2581";

    private final Vocabulary vocab;
    // Held-back bytes: at most 3, since 4 bytes always decide a character.
    private final byte[] pending = new byte[4];
    private int pendingLength;
    // SentencePiece's decode state: may the next piece still lose a leading "▁"? did the previous piece lose one?
    // has any text been produced?
    private boolean mayDropSpace;
    private boolean droppedSpace;
    private boolean producedText;

    /**
     * @param tokenizer        the tokenizer whose ids will be pushed
     * @param dropLeadingSpace true to drop the leading "▁" of the first text piece (SentencePiece's decode, and what
     *                         the reference runner shows for generated text); false to keep every space
     */
    SentencePieceDecoder(SentencePieceTokenizer tokenizer, boolean dropLeadingSpace) {
        this.vocab = tokenizer.vocabulary();
        this.mayDropSpace = dropLeadingSpace && vocab.addDummyPrefix();
    }

    /**
     * Adds one token id.
     *
     * @param id a token id, {@code 0 <= id < vocabSize}
     * @return the text that became final with this id; often "" (a control piece, or a byte that starts a character)
     * @throws IllegalArgumentException if the id is outside the vocabulary (the decoder state is unchanged)
     */
    @Override
    public String push(int id) {
        StringBuilder out = new StringBuilder();
        push(id, out);
        return out.toString();
    }

    /**
     * Ends the current run of byte pieces: held-back bytes of an unfinished character become one U+FFFD each. Call it
     * when the stream ends. The decoder stays usable; later ids continue the same text.
     *
     * @return the text of the held-back bytes, or "" if there were none
     */
    @Override
    public String flush() {
        StringBuilder out = new StringBuilder();
        flush(out);
        return out.toString();
    }

    /** @return true if bytes of an unfinished character are held back */
    @Override
    public boolean hasPendingBytes() {
        return pendingLength > 0;
    }

    /** {@link #push(int)} appending to {@code out}. */
    void push(int id, StringBuilder out) {
        if (id < 0 || id >= vocab.size()) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab.size()
                    + ")");
        }
        int before = out.length();
        int b = vocab.byteValue(id);
        if (b >= 0) {
            pending[pendingLength++] = (byte) b;
            drainPending(out, false);
        } else {
            flush(out);
            appendPiece(id, out);
        }
        producedText |= out.length() > before;
    }

    /** {@link #flush()} appending to {@code out}. */
    void flush(StringBuilder out) {
        int before = out.length();
        drainPending(out, true);
        producedText |= out.length() > before;
    }

    /** Emits every decided character of the pending bytes; with {@code endOfRun}, all of them. */
    private void drainPending(StringBuilder out, boolean endOfRun) {
        int pos = 0;
        while (pos < pendingLength) {
            int length = Utf8.classify(pending, pos, pendingLength);
            if (length > 0) {
                out.appendCodePoint(Utf8.codePoint(pending, pos, length));
                pos += length;
            } else if (length == Utf8.INVALID || endOfRun) {
                out.append(Utf8.REPLACEMENT); // one per byte, then resynchronise on the next byte
                pos++;
            } else {
                break; // INCOMPLETE: wait for more bytes
            }
        }
        System.arraycopy(pending, pos, pending, 0, pendingLength - pos);
        pendingLength -= pos;
    }

    /** The surface of one non-byte piece (SentencePiece's DecodeSentencePiece, spec §7.3). */
    private void appendPiece(int id, StringBuilder out) {
        // The leading "▁" may be dropped only from the first piece(s) before any text, and only once.
        if (droppedSpace || producedText) {
            mayDropSpace = false;
        }
        droppedSpace = false;
        switch (vocab.type(id)) {
            case CONTROL -> {
                // invisible
            }
            case UNKNOWN -> out.append(vocab.unkSurface());
            default -> {
                String piece = vocab.piece(id);
                if (mayDropSpace && piece.startsWith(SPACE_SYMBOL)) {
                    piece = piece.substring(1);
                    droppedSpace = true;
                }
                out.append(piece.replace('\u2581', ' '));
            }
        }
    }
}
