package grok1j.format.gguf;

import grok1j.tokenizer.SentencePieceTokenizer;
import grok1j.tokenizer.TiktokenTokenizer;
import grok1j.tokenizer.Tokenizer;

/**
 * The vocabulary arrays a GGUF file carries ({@code tokenizer.ggml.*}), from which a tokenizer can be built, or
 * which a converter writes.
 *
 * @param model      {@code tokenizer.ggml.model}: {@code "llama"} (SentencePiece, Grok-1) or {@code "gpt2"}
 *                   (byte-level BPE, Grok-2's tiktoken vocabulary: {@link ByteLevelVocab})
 * @param pre        {@code tokenizer.ggml.pre}: the pre-tokenizer ({@code "grok-2"} for Grok-2), or null
 * @param tokens     {@code tokenizer.ggml.tokens}: the raw piece strings (SentencePiece {@code ▁} included, or GPT-2's
 *                   byte-to-unicode spelling), by id
 * @param scores     {@code tokenizer.ggml.scores}: piece scores (BPE merge priority), by id; same length (zeros for
 *                   {@code gpt2}, which writes none)
 * @param tokenTypes {@code tokenizer.ggml.token_type}: SentencePiece types (1 normal, 2 unknown, 3 control,
 *                   4 user-defined, 5 unused, 6 byte), by id; same length
 * @param merges     {@code tokenizer.ggml.merges} ({@code "left right"} in rank order) for {@code gpt2}, or null
 * @param bosId      {@code tokenizer.ggml.bos_token_id} (Grok-1: 1; -1 for none)
 * @param eosId      {@code tokenizer.ggml.eos_token_id} (2)
 * @param unkId      {@code tokenizer.ggml.unknown_token_id} (Grok-1: 3; -1 for none)
 * @param padId      {@code tokenizer.ggml.padding_token_id} (0; -1 for none)
 * @param addBos     {@code tokenizer.ggml.add_bos_token} (false: the reference never adds BOS, spec §7.4)
 */
public record GgufVocab(String model, String pre, String[] tokens, float[] scores, int[] tokenTypes, String[] merges,
                        int bosId, int eosId, int unkId, int padId, boolean addBos) {
    public GgufVocab {
        if (scores.length != tokens.length || tokenTypes.length != tokens.length) {
            throw new IllegalArgumentException("vocabulary arrays differ in length: " + tokens.length + " tokens, "
                    + scores.length + " scores, " + tokenTypes.length + " types");
        }
    }

    /** A SentencePiece ({@code "llama"}) vocabulary. */
    public GgufVocab(String[] tokens, float[] scores, int[] tokenTypes, int bosId, int eosId, int unkId, int padId,
                     boolean addBos) {
        this("llama", null, tokens, scores, tokenTypes, null, bosId, eosId, unkId, padId, addBos);
    }

    /**
     * A tokenizer's vocabulary as a converter writes it, with its special ids and no automatic BOS: a SentencePiece
     * model's pieces, scores and types ({@code "llama"}); a tiktoken vocabulary as byte-level BPE ({@code "gpt2"},
     * pre-tokenizer {@code "grok-2"}, see {@link ByteLevelVocab}).
     *
     * @throws IllegalArgumentException for another tokenizer, or a tiktoken one whose split is not {@code V1}
     */
    public static GgufVocab of(Tokenizer tokenizer) {
        if (tokenizer instanceof TiktokenTokenizer tik) {
            return ByteLevelVocab.of(tik);
        }
        if (!(tokenizer instanceof SentencePieceTokenizer tok)) {
            throw new IllegalArgumentException("only a SentencePiece or tiktoken vocabulary can be written to GGUF");
        }
        int n = tok.vocabSize();
        String[] pieces = new String[n];
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int id = 0; id < n; id++) {
            pieces[id] = tok.piece(id);
            scores[id] = tok.model().score(id);
            types[id] = tok.type(id).wireValue;
        }
        return new GgufVocab(pieces, scores, types, tok.bosId(), tok.eosId(), tok.unkId(), tok.padId(), false);
    }

    /** Grok-1's special ids (bos 1, eos 2, unk 3, pad 0) and no automatic BOS. */
    public static GgufVocab grok1(String[] tokens, float[] scores, int[] tokenTypes) {
        return new GgufVocab(tokens, scores, tokenTypes, 1, 2, 3, 0, false);
    }

    /**
     * The tiktoken tokenizer a byte-level vocabulary ({@link #byteLevel()}) stands for.
     *
     * @param source the file, for messages
     * @throws GgufFormatException if its pre-tokenizer is not {@code grok-2} or a token is not byte-level
     * @throws grok1j.tokenizer.TokenizerFormatException if the tokens do not form a tiktoken vocabulary
     */
    public static TiktokenTokenizer tiktoken(GgufVocab v, String source)
            throws grok1j.tokenizer.TokenizerFormatException {
        return ByteLevelVocab.toTiktoken(v, source);
    }

    /** True for a byte-level BPE ({@code gpt2}) vocabulary. */
    public boolean byteLevel() {
        return ByteLevelVocab.MODEL.equals(model);
    }
}
