package grok1j.generate.constraint;

import grok1j.tokenizer.PieceType;
import grok1j.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;

/**
 * What a constraint needs to know of a tokenizer: the bytes each token adds to the decoded text. This is the only
 * coupling between constrained decoding and a tokenizer, so a byte-level (tiktoken) vocabulary plugs in beside
 * SentencePiece.
 */
public interface TokenBytes {
    /** @return the number of token ids */
    int size();

    /**
     * @param id a token id in {@code [0, size())}
     * @return the UTF-8 bytes the token appends to the text (a byte piece: its one byte), or null for a token that
     *     is not text (control, unknown) and is never allowed inside a constrained document
     */
    byte[] bytes(int id);

    /** @return the end-of-sequence id, allowed once the document is complete; -1 if none */
    int eosId();

    /**
     * The pieces of a SentencePiece tokenizer as they decode after a prompt: "▁" is a space (the dummy-prefix rule
     * drops only the first piece's space of the whole text, which is the prompt's), {@code <0xXX>} is one byte.
     */
    static TokenBytes of(Tokenizer tokenizer) {
        int n = tokenizer.vocabSize();
        byte[][] table = new byte[n][];
        for (int id = 0; id < n; id++) {
            PieceType type = tokenizer.type(id);
            int b = tokenizer.byteValue(id);
            if (b >= 0) {
                table[id] = new byte[] {(byte) b};
            } else if (type == PieceType.NORMAL || type == PieceType.USER_DEFINED) {
                byte[] text = tokenizer.piece(id).replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
                table[id] = text.length > 0 ? text : null;
            }
        }
        int eos = tokenizer.eosId();
        return new TokenBytes() {
            @Override
            public int size() {
                return n;
            }

            @Override
            public byte[] bytes(int id) {
                return table[id];
            }

            @Override
            public int eosId() {
                return eos;
            }
        };
    }
}
