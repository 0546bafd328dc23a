package grok1j.format.gguf;

import grok1j.tokenizer.TiktokenTokenizer;
import grok1j.tokenizer.TokenizerFormatException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Grok-2's tiktoken vocabulary ({@code tokenizer.tok.json}, grok-2 spec §4) as the byte-level BPE arrays llama.cpp
 * keeps for Grok-2 ({@code tokenizer.ggml.model "gpt2"}, {@code tokenizer.ggml.pre "grok-2"}), and back.
 *
 * <p>Ids are kept, so an id is still its merge rank. A regular token is spelled with GPT-2's byte-to-unicode table
 * (the 188 printable bytes as themselves, the other 68 as U+0100 onwards, in byte order) and has type 1 (normal); a
 * special token is its text with type 3 (control); an id without a token is {@code [PAD<id>]} with type 5 (unused).
 * {@code tokenizer.ggml.merges} lists, in rank order, the pair each multi-byte token is merged from: the two parts
 * that byte-pair merging of its bytes ends with when only lower ranks may merge. A token that merging cannot build
 * has no merge (tiktoken reaches it by whole-piece lookup).
 *
 * <p>Reading back needs only the tokens, their types and ids: the ranks are the ids, and the split is {@code V1},
 * so grok1j tokenizes a converted file exactly as tiktoken does with the original {@code tokenizer.tok.json}.
 */
final class ByteLevelVocab {
    static final String MODEL = "gpt2";
    /** llama.cpp's name for Grok-2's split (its {@code V1} regex). */
    static final String PRE = "grok-2";

    private static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[256 + 68];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            BYTE_TO_CHAR[b] = (char) (printable ? b : next++);
            CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
        }
    }

    private ByteLevelVocab() {}

    /** GPT-2's spelling of raw bytes. */
    static String spell(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            c[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(c);
    }

    /** The bytes a GPT-2-spelled token stands for, or null if a character is outside the table. */
    static byte[] unspell(String token) {
        byte[] b = new byte[token.length()];
        for (int i = 0; i < b.length; i++) {
            char ch = token.charAt(i);
            int v = ch < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[ch] : -1;
            if (v < 0) {
                return null;
            }
            b[i] = (byte) v;
        }
        return b;
    }

    /**
     * The arrays for a tiktoken vocabulary.
     *
     * @throws IllegalArgumentException if its split is not {@code V1} (llama.cpp's {@code grok-2} pre-tokenizer)
     */
    static GgufVocab of(TiktokenTokenizer tok) {
        if (!TiktokenTokenizer.V1_PATTERN.equals(tok.splitPattern())) {
            throw new IllegalArgumentException("the tokenizer splits with its own pat_str; only the V1 split (llama.cpp's"
                    + " pre-tokenizer grok-2) can be written to GGUF");
        }
        int n = tok.vocabSize();
        String[] tokens = new String[n];
        int[] types = new int[n];
        Map<String, Integer> ranks = new HashMap<>();
        for (int id = 0; id < n; id++) {
            if (tok.type(id) == grok1j.tokenizer.PieceType.UNUSED) {
                tokens[id] = "[PAD" + id + "]";
                types[id] = UNUSED;
            } else if (tok.isSpecial(id)) {
                tokens[id] = new String(tok.tokenBytes(id), StandardCharsets.UTF_8);
                types[id] = CONTROL;
            } else {
                byte[] b = tok.tokenBytes(id);
                tokens[id] = spell(b);
                types[id] = NORMAL;
                ranks.put(new String(b, StandardCharsets.ISO_8859_1), id);
            }
        }
        List<String> merges = new ArrayList<>();
        for (int id = 0; id < n; id++) {
            if (types[id] == NORMAL && tokens[id].length() >= 2) {
                String[] pair = lastMerge(tokens[id], id, ranks);
                if (pair != null) {
                    merges.add(pair[0] + " " + pair[1]);
                }
            }
        }
        return new GgufVocab(MODEL, PRE, tokens, new float[n], types, merges.toArray(String[]::new), -1, tok.eosId(),
                -1, tok.padId(), false);
    }

    /**
     * The two parts that merging the bytes of token {@code rank} (GPT-2 spelled) ends with when only ranks below its
     * own may merge (lowest rank first, leftmost on ties, as tiktoken), or null if merging does not end in two parts.
     */
    private static String[] lastMerge(String spelled, int rank, Map<String, Integer> ranks) {
        byte[] bytes = unspell(spelled);
        List<String> parts = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            parts.add(new String(new byte[] {b}, StandardCharsets.ISO_8859_1));
        }
        while (parts.size() > 2) {
            int best = -1;
            int bestRank = rank;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer r = ranks.get(parts.get(i) + parts.get(i + 1));
                if (r != null && r < bestRank) {
                    best = i;
                    bestRank = r;
                }
            }
            if (best < 0) {
                return null;
            }
            parts.set(best, parts.get(best) + parts.remove(best + 1));
        }
        if (parts.size() != 2) {
            return null;
        }
        return new String[] {spell(parts.get(0).getBytes(StandardCharsets.ISO_8859_1)),
                spell(parts.get(1).getBytes(StandardCharsets.ISO_8859_1))};
    }

    /**
     * The tiktoken tokenizer a byte-level vocabulary stands for: tokens of type 3 (control) or 4 (user-defined) are
     * special (their text), type 5 (unused) are skipped, the others are GPT-2-spelled bytes.
     *
     * @param source the file, for messages
     * @throws GgufFormatException if the pre-tokenizer is not {@code grok-2}, or a token is not GPT-2-spelled
     * @throws TokenizerFormatException if the tokens do not form a valid tiktoken vocabulary (duplicates, a missing byte)
     */
    static TiktokenTokenizer toTiktoken(GgufVocab v, String source) throws TokenizerFormatException {
        if (!PRE.equals(v.pre())) {
            throw new GgufFormatException(source + ": tokenizer.ggml.pre is " + (v.pre() == null ? "missing"
                    : "\"" + v.pre() + "\"") + "; grok1j reads byte-level (gpt2) vocabularies with Grok-2's split (\""
                    + PRE + "\") only: pass --tokenizer tokenizer.tok.json");
        }
        int n = v.tokens().length;
        byte[][] bytes = new byte[n][];
        boolean[] special = new boolean[n];
        for (int id = 0; id < n; id++) {
            int type = v.tokenTypes()[id];
            if (type == UNUSED) {
                continue;
            }
            if (type == CONTROL || type == USER_DEFINED) {
                bytes[id] = v.tokens()[id].getBytes(StandardCharsets.UTF_8);
                special[id] = true;
            } else {
                bytes[id] = unspell(v.tokens()[id]);
            }
            if (bytes[id] == null || bytes[id].length == 0) {
                throw new GgufFormatException(source + ": token " + id + (special[id] ? " is an empty special token"
                        : " is not a byte-level (GPT-2 spelled) token"));
            }
        }
        return TiktokenTokenizer.of(bytes, special, source);
    }
}
