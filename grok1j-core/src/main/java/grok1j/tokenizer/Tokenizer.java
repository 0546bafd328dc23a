package grok1j.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text to token ids and back. Two implementations: {@link SentencePieceTokenizer} (Grok-1's {@code tokenizer.model},
 * grok-1 spec §7) and {@link TiktokenTokenizer} (Grok-2's {@code tokenizer.tok.json}, grok-2 spec §4).
 *
 * <p>Implementations are immutable and thread-safe. Token ids are {@code int}s in {@code [0, vocabSize())}. Neither
 * adds BOS or EOS.
 */
public interface Tokenizer {

    /**
     * Reads a tokenizer file, choosing the format by its content: a JSON object is a {@code tokenizer.tok.json},
     * anything else a SentencePiece {@code tokenizer.model}.
     *
     * @throws TokenizerFormatException if the file is not a tokenizer grok1j can use; the message names the file
     * @throws IOException if the file cannot be read
     */
    static Tokenizer load(Path file) throws IOException {
        return isTiktokenJson(file) ? TiktokenTokenizer.load(file) : SentencePieceTokenizer.load(file);
    }

    /** True if the file's first non-blank byte is '{' (a protobuf {@code tokenizer.model} starts with a tag byte). */
    private static boolean isTiktokenJson(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            int b;
            do {
                b = in.read();
            } while (b == ' ' || b == '\t' || b == '\n' || b == '\r');
            return b == '{';
        }
    }

    /**
     * Encodes text into token ids, without BOS or EOS.
     *
     * @param text any text; a lone UTF-16 surrogate is encoded as U+FFFD (SentencePiece) or '?' (tiktoken)
     * @return the ids, {@code []} for the empty string
     */
    int[] encode(String text);

    /**
     * Decodes token ids into text.
     *
     * @throws IllegalArgumentException if an id is outside the vocabulary
     */
    default String decode(int[] ids) {
        return decode(ids, 0, ids.length);
    }

    /**
     * Decodes {@code ids[from, to)} as if it were the whole sequence.
     *
     * @throws IndexOutOfBoundsException if the range is not within the array
     * @throws IllegalArgumentException  if an id is outside the vocabulary
     */
    String decode(int[] ids, int from, int to);

    /** @return a new {@link StreamingDecoder} that decodes like {@link #decode(int[])} */
    StreamingDecoder streamingDecoder();

    /**
     * @return the text of token {@code id} as stored: SentencePiece's piece ("▁" for spaces, {@code <0xXX>} for byte
     *     pieces); a tiktoken token's bytes as UTF-8, with {@code <0xXX>} for each byte of a token that is not valid
     *     UTF-8 on its own
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    String piece(int id);

    /**
     * @return the type of token {@code id} (tiktoken: {@link PieceType#CONTROL} for specials, {@link PieceType#BYTE}
     *     for a token that is not valid UTF-8 on its own, else {@link PieceType#NORMAL})
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    PieceType type(int id);

    /**
     * @return the byte a single-byte token stands for (SentencePiece: a {@code <0xXX>} piece; tiktoken: a one-byte
     *     token that is not ASCII), or -1 for any other token
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    int byteValue(int id);

    /**
     * @return the bytes token {@code id} stands for in decoded text where {@link #piece(int)} does not spell them
     *     (a tiktoken token of several bytes that is not valid UTF-8 on its own, which {@code piece} shows as
     *     {@code <0xXX>} text), else null: the piece's text is the token (SentencePiece's "▁" a space, a byte
     *     piece {@link #byteValue(int)})
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    default byte[] rawBytes(int id) {
        return null;
    }

    /** @return the id of the token with exactly this text (as {@link #piece(int)} gives it), or -1 if there is none */
    int pieceId(String piece);

    /** @return the number of ids (Grok-1 and Grok-2: 131,072) */
    int vocabSize();

    /** @return the id of the unknown token, or -1 if there is none (tiktoken has none) */
    int unkId();

    /** @return the BOS id, or -1 if there is none (neither reference adds one) */
    int bosId();

    /** @return the EOS id (Grok-1 {@code [EOS]} and Grok-2 {@code <|eos|>}: 2), or -1 if there is none */
    int eosId();

    /** @return the padding id, or -1 if there is none */
    int padId();
}
