package grok1j.generate.constraint;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Constrains generation to JSON documents that match a schema (structured outputs, README "Structured outputs").
 *
 * <p>A pushdown matcher over bytes follows the document; the tokens allowed in a state are found by walking the
 * vocabulary's trie with it, and cached per state (with counters that no single token can tell apart saturated), so
 * after the first visit a state's mask costs one pass over a {@code vocab}-bit set. Generation ends as soon as the
 * document is complete and nothing may follow (an object, array, string or literal at the top); a top-level number
 * may instead end with the end-of-sequence token. With few tokens left, only tokens after which the document can
 * still be completed in time are allowed, so a document is cut short only when {@code max_tokens} is below its
 * shortest completion.
 *
 * When no token leaves a document that can be finished in time (token counted as one byte at most), only the
 * tokens after which the fewest bytes remain are allowed.
 *
 * <p>Whitespace: single spaces only, at most {@link Frame#MAX_WHITESPACE} in a row between tokens and before the document, none after it. Keys
 * come in the schema's order. Thread-safe; the cache is shared by every sequence using this constraint.
 */
public final class JsonSchemaConstraint implements TokenConstraint {
    /** Cached masks per constraint (each {@code vocab / 8} bytes: 16 KiB for Grok-1). */
    static final int CACHE_ENTRIES = 256;

    private final TokenIndex index;
    private final SchemaNode root;
    private final Map<List<Stack>, MaskWalk.Mask> masks = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<List<Stack>, MaskWalk.Mask> eldest) {
            return size() > CACHE_ENTRIES;
        }
    };
    private long walks;
    private long hits;

    private JsonSchemaConstraint(TokenIndex index, SchemaNode root) {
        this.index = index;
        this.root = root;
    }

    /**
     * @param schemaJson a JSON schema: the keywords listed in README "Structured outputs"
     * @throws SchemaException naming the first unsupported keyword, or why the schema is unusable
     */
    public static JsonSchemaConstraint compile(String schemaJson, TokenIndex index) {
        return new JsonSchemaConstraint(index, SchemaCompiler.compile(schemaJson));
    }

    /**
     * Checks a schema without a vocabulary (e.g. before loading a model).
     *
     * @throws SchemaException naming the first unsupported keyword, or why the schema is unusable
     */
    public static void check(String schemaJson) {
        SchemaCompiler.compile(schemaJson);
    }

    /** Any JSON object ({@code response_format: {"type": "json_object"}}). */
    public static JsonSchemaConstraint anyObject(TokenIndex index) {
        return new JsonSchemaConstraint(index, SchemaCompiler.anyObject());
    }

    @Override
    public Matcher start() {
        return new JsonMatcher(new Stack[] {new Stack(new Frame.ValueStart(root, 0), new Stack(Frame.Done.INSTANCE, null))});
    }

    /** @return {trie walks, cache hits} so far, for benchmarks */
    public synchronized long[] cacheStats() {
        return new long[] {walks, hits};
    }

    private MaskWalk.Mask mask(Stack[] state) {
        Stack[] key = new Stack[state.length];
        for (int i = 0; i < state.length; i++) {
            key[i] = state[i].maskKey(index.trie.maxTokenBytes);
        }
        List<Stack> k = Arrays.asList(key);
        synchronized (this) {
            MaskWalk.Mask m = masks.get(k);
            if (m != null) {
                hits++;
                return m;
            }
        }
        MaskWalk.Mask m = MaskWalk.allowed(index, state); // outside the lock: other sequences keep going
        synchronized (this) {
            walks++;
            masks.put(k, m);
        }
        return m;
    }

    private final class JsonMatcher implements Matcher {
        private Stack[] state;
        private boolean endedByEos;

        JsonMatcher(Stack[] state) {
            this.state = state;
        }

        @Override
        public void mask(float[] logits, int remaining) {
            int vocab = Math.min(logits.length, index.vocab.size());
            MaskWalk.Mask m = JsonSchemaConstraint.this.mask(state);
            long[] bits = m.bits;
            if (m.maxCostAfter > remaining - 1) {
                // some token could leave a document too long to finish: keep only those that finish in time
                short[] costs = m.costs;
                if (costs == null) {
                    costs = MaskWalk.costs(index, state);
                    m.costs = costs;
                }
                // when none can, keep those that bring the document closest to its end (the longest steps along a
                // shortest completion): never whitespace or optional content, so it is cut short as late as possible
                int min = Short.MAX_VALUE;
                for (int id = 0; id < vocab; id++) {
                    min = Math.min(min, costs[id]);
                }
                int limit = Math.max(remaining - 1, min);
                long[] fit = new long[bits.length];
                for (int id = 0; id < vocab; id++) {
                    if (costs[id] <= limit && costs[id] < Short.MAX_VALUE) {
                        fit[id >>> 6] |= 1L << id;
                    }
                }
                bits = fit;
            }
            for (int id = 0; id < vocab; id++) {
                if ((bits[id >>> 6] & (1L << id)) == 0) {
                    logits[id] = Float.NEGATIVE_INFINITY;
                }
            }
            for (int id = vocab; id < logits.length; id++) {
                logits[id] = Float.NEGATIVE_INFINITY;
            }
        }

        @Override
        public void accept(int id) {
            if (id == index.vocab.eosId()) {
                if (!MaskWalk.accepting(state)) {
                    throw new IllegalStateException("end of sequence before the JSON document is complete");
                }
                endedByEos = true;
                return;
            }
            byte[] bytes = id >= 0 && id < index.vocab.size() ? index.vocab.bytes(id) : null;
            if (bytes == null || endedByEos) {
                throw new IllegalStateException("token " + id + " is not allowed here");
            }
            Stack[] s = state;
            for (byte b : bytes) {
                s = MaskWalk.advance(s, b & 0xFF);
                if (s == null) {
                    throw new IllegalStateException("token " + id + " is not allowed here");
                }
            }
            state = s;
        }

        @Override
        public boolean complete() {
            return MaskWalk.accepting(state);
        }

        @Override
        public boolean finished() {
            if (endedByEos) {
                return true;
            }
            if (!complete()) {
                return false;
            }
            for (int b = 0; b < 256; b++) {
                if (MaskWalk.advance(state, b) != null) {
                    return false;
                }
            }
            return true;
        }
    }
}
