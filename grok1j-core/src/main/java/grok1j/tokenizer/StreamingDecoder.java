package grok1j.tokenizer;

/**
 * Turns token ids into text one id at a time, for streaming generated text, without ever emitting half a character.
 *
 * <p>A character may span several tokens (byte-fallback pieces in SentencePiece, byte-level BPE tokens in tiktoken),
 * so the decoder holds back bytes that are a proper prefix of a well-formed UTF-8 character until it is complete.
 * The concatenation of everything {@link #push(int)} and {@link #flush()} return equals {@link Tokenizer#decode(int[])}
 * of the same ids.
 *
 * <p>Usage:
 * <pre>{@code
 * StreamingDecoder out = tokenizer.streamingDecoder();
 * for (int id : generatedIds) System.out.print(out.push(id));
 * System.out.print(out.flush());
 * }</pre>
 *
 * <p>Not thread-safe; use one instance per stream.
 */
public interface StreamingDecoder {
    /**
     * Adds one token id.
     *
     * @param id a token id, {@code 0 <= id < vocabSize}
     * @return the text that became final with this id; often "" (a byte that starts a character)
     * @throws IllegalArgumentException if the id is outside the vocabulary (the decoder state is unchanged)
     */
    String push(int id);

    /**
     * Ends the stream: held-back bytes of an unfinished character become U+FFFD. The decoder stays usable; later ids
     * continue the same text.
     *
     * @return the text of the held-back bytes, or "" if there were none
     */
    String flush();

    /** @return true if bytes of an unfinished character are held back */
    boolean hasPendingBytes();
}
