package grok1j.format.gguf;

/**
 * The vocabulary arrays a GGUF file carries ({@code tokenizer.ggml.*}), from which a tokenizer can be built, or
 * which a converter writes.
 *
 * @param tokens     {@code tokenizer.ggml.tokens}: the raw piece strings (SentencePiece {@code ▁} included), by id
 * @param scores     {@code tokenizer.ggml.scores}: piece scores (BPE merge priority), by id; same length
 * @param tokenTypes {@code tokenizer.ggml.token_type}: SentencePiece types (1 normal, 2 unknown, 3 control,
 *                   4 user-defined, 5 unused, 6 byte), by id; same length
 * @param bosId      {@code tokenizer.ggml.bos_token_id} (Grok-1: 1)
 * @param eosId      {@code tokenizer.ggml.eos_token_id} (2)
 * @param unkId      {@code tokenizer.ggml.unknown_token_id} (3)
 * @param padId      {@code tokenizer.ggml.padding_token_id} (0)
 * @param addBos     {@code tokenizer.ggml.add_bos_token} (false: the reference never adds BOS, spec §7.4)
 */
public record GgufVocab(String[] tokens, float[] scores, int[] tokenTypes, int bosId, int eosId, int unkId, int padId,
                        boolean addBos) {
    public GgufVocab {
        if (scores.length != tokens.length || tokenTypes.length != tokens.length) {
            throw new IllegalArgumentException("vocabulary arrays differ in length: " + tokens.length + " tokens, "
                    + scores.length + " scores, " + tokenTypes.length + " types");
        }
    }

    /** A tokenizer's pieces, scores and types by id, with its special ids and no automatic BOS (what a converter writes). */
    public static GgufVocab of(grok1j.tokenizer.Tokenizer tokenizer) {
        if (!(tokenizer instanceof grok1j.tokenizer.SentencePieceTokenizer tok)) {
            throw new IllegalArgumentException("only a SentencePiece vocabulary can be written to GGUF yet");
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
}
