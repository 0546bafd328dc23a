package grok1j.generate.constraint;

import grok1j.tokenizer.Tokenizer;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A vocabulary prepared for constrained decoding: the tokens' bytes and their trie. Built once per tokenizer (Grok-1's
 * 131,072 pieces: about 0.2 s) and shared by every constraint over it. Immutable and thread-safe.
 */
public final class TokenIndex {
    private static final Map<Tokenizer, TokenIndex> BY_TOKENIZER = Collections.synchronizedMap(new WeakHashMap<>());

    final TokenBytes vocab;
    final TokenTrie trie;
    /** Tokens that are plain string content: whole UTF-8 characters, no quote, backslash or control character. */
    final long[] inert;
    /** Per token: its characters (code points) if inert, else -1. */
    final byte[] inertChars;
    /** inertUpTo[k]: the inert tokens of at most k characters, k in [0, trie.maxTokenBytes]. */
    final long[][] inertUpTo;
    /** The trie of the other tokens: all a string's mask still has to walk once its length no longer matters. */
    final TokenTrie nonInertTrie;

    private TokenIndex(TokenBytes vocab) {
        this.vocab = vocab;
        this.trie = new TokenTrie(vocab);
        int n = vocab.size();
        this.inert = new long[(n + 63) >>> 6];
        this.inertChars = new byte[n];
        this.inertUpTo = new long[trie.maxTokenBytes + 1][inert.length];
        for (int id = 0; id < n; id++) {
            byte[] b = vocab.bytes(id);
            int chars = b == null ? -1 : plainStringChars(b);
            inertChars[id] = (byte) chars;
            if (chars >= 0) {
                inert[id >>> 6] |= 1L << id;
                for (int k = chars; k <= trie.maxTokenBytes; k++) {
                    inertUpTo[k][id >>> 6] |= 1L << id;
                }
            }
        }
        this.nonInertTrie = new TokenTrie(new TokenBytes() {
            @Override
            public int size() {
                return n;
            }

            @Override
            public byte[] bytes(int id) {
                return (inert[id >>> 6] & (1L << id)) != 0 ? null : vocab.bytes(id);
            }

            @Override
            public int eosId() {
                return vocab.eosId();
            }
        });
    }

    /** The characters in these bytes if a string frame takes them as whole characters (see {@link StringFrame}), else -1. */
    private static int plainStringChars(byte[] b) {
        SchemaNode.StringNode any = new SchemaNode.StringNode(0, -1);
        StringFrame f = new StringFrame(any, 0, StringFrame.NORMAL, 0, 0, 0);
        java.util.List<Stack> out = new java.util.ArrayList<>(1);
        Stack s = new Stack(f, null);
        for (byte x : b) {
            int v = x & 0xFF;
            if (v == '"' || v == '\\') {
                return -1;
            }
            out.clear();
            s.feed(v, out);
            if (out.size() != 1) {
                return -1;
            }
            s = out.get(0);
        }
        StringFrame end = (StringFrame) s.top;
        return end.sub() == StringFrame.NORMAL ? end.count() : -1;
    }

    /** @return the index of any vocabulary given as bytes per token (e.g. a byte-level BPE) */
    public static TokenIndex of(TokenBytes vocab) {
        return new TokenIndex(vocab);
    }

    /** @return the index of a SentencePiece tokenizer, built on first use and kept while the tokenizer lives */
    public static TokenIndex of(Tokenizer tokenizer) {
        return BY_TOKENIZER.computeIfAbsent(tokenizer, t -> new TokenIndex(TokenBytes.of(t)));
    }

    /** @return the number of token ids */
    public int vocabSize() {
        return vocab.size();
    }

    /** @return the trie's node count (a measure of the worst-case masking walk) */
    public int trieNodes() {
        return trie.nodes();
    }
}
