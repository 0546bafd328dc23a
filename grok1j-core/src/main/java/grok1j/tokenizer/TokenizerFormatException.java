package grok1j.tokenizer;

import java.io.IOException;

/**
 * A tokenizer file that cannot be used: truncated or malformed protobuf, an inconsistent piece table, or a
 * SentencePiece feature grok1j does not implement (for example a Unigram model or an NFKC normalizer).
 *
 * <p>The message always starts with the file name (or the source name given to
 * {@link SentencePieceModel#parse(byte[], String)}) and, for wire-format errors, names the byte offset, so a command
 * line tool can print it as one line.
 */
public final class TokenizerFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /** @param message the full message, starting with the file name; line breaks (from pieces) become spaces */
    public TokenizerFormatException(String message) {
        super(message.replace('\r', ' ').replace('\n', ' '));
    }
}
