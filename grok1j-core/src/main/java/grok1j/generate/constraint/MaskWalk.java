package grok1j.generate.constraint;

import java.util.ArrayList;
import java.util.List;

/**
 * Computes the tokens allowed in a matcher state by walking the {@link TokenTrie} with the matcher: each trie edge
 * feeds one byte, and a byte no stack accepts prunes every token below. Records, per allowed token, the fewest bytes
 * that complete the document after it.
 */
final class MaskWalk {
    private TokenTrie trie;
    private final long[] bits;
    private final short[] costs;
    private int maxCost;

    private MaskWalk(TokenTrie trie, int vocab, boolean withCosts) {
        this.trie = trie;
        this.bits = new long[(vocab + 63) >>> 6];
        this.costs = withCosts ? new short[vocab] : null;
    }

    /** The allowed set of a state, and (computed when first needed) the cost after each token. */
    static final class Mask {
        final long[] bits;
        final int maxCostAfter;
        volatile short[] costs;

        Mask(long[] bits, int maxCostAfter) {
            this.bits = bits;
            this.maxCostAfter = maxCostAfter;
        }
    }

    static Mask allowed(TokenIndex index, Stack[] state) {
        MaskWalk w = new MaskWalk(index.trie, index.vocab.size(), false);
        w.run(index, state);
        return new Mask(w.bits, w.maxCost);
    }

    /** Per token, the fewest bytes that complete the document after it ({@link Short#MAX_VALUE} if not allowed). */
    static short[] costs(TokenIndex index, Stack[] state) {
        MaskWalk w = new MaskWalk(index.trie, index.vocab.size(), true);
        java.util.Arrays.fill(w.costs, Short.MAX_VALUE);
        w.run(index, state);
        return w.costs;
    }

    private void run(TokenIndex index, Stack[] state) {
        int eos = index.vocab.eosId();
        if (eos >= 0 && accepting(state)) {
            allow(eos, 0);
        }
        if (state.length == 1 && state[0].top instanceof StringFrame f && f.sub() == StringFrame.NORMAL) {
            // Inside a string: a plain-content token is allowed when its characters fit maxLength, and only moves
            // the count; so those come from a precomputed set and only the other tokens need the walk.
            SchemaNode.StringNode b = f.node();
            int room = b.maxLength < 0 ? index.trie.maxTokenBytes : Math.min(b.maxLength - f.count(), index.trie.maxTokenBytes);
            long[] fit = index.inertUpTo[room];
            int missing = Math.max(0, b.minLength - f.count());
            int base = cost(state) - missing; // the closing quote and everything below
            for (int w = 0; w < bits.length; w++) {
                bits[w] |= fit[w];
                if (costs != null) {
                    for (long x = fit[w]; x != 0; x &= x - 1) {
                        int id = (w << 6) + Long.numberOfTrailingZeros(x);
                        int c = base + Math.max(0, missing - index.inertChars[id]);
                        costs[id] = (short) Math.min(c, Short.MAX_VALUE - 1);
                    }
                }
            }
            maxCost = Math.max(maxCost, cost(state));
            trie = index.nonInertTrie;
        }
        walk(0, state);
    }

    private void walk(int node, Stack[] state) {
        int c = cost(state);
        for (int t = trie.firstToken[node]; t < trie.firstToken[node + 1]; t++) {
            allow(trie.tokens[t], c);
        }
        for (int e = trie.firstChild[node]; e < trie.firstChild[node + 1]; e++) {
            Stack[] next = advance(state, trie.childByte[e] & 0xFF);
            if (next != null) {
                walk(trie.childNode[e], next);
            }
        }
    }

    private void allow(int id, int cost) {
        bits[id >>> 6] |= 1L << id;
        maxCost = Math.max(maxCost, cost);
        if (costs != null) {
            costs[id] = (short) Math.min(cost, Short.MAX_VALUE - 1);
        }
    }

    /** @return the stacks after byte b, duplicates removed, or null if none accepts it */
    static Stack[] advance(Stack[] state, int b) {
        if (state.length == 1) {
            List<Stack> out = new ArrayList<>(2);
            state[0].feed(b, out);
            return out.isEmpty() ? null : dedup(out);
        }
        List<Stack> out = new ArrayList<>(state.length + 2);
        for (Stack s : state) {
            s.feed(b, out);
        }
        return out.isEmpty() ? null : dedup(out);
    }

    private static Stack[] dedup(List<Stack> out) {
        if (out.size() == 1) {
            return new Stack[] {out.get(0)};
        }
        List<Stack> unique = new ArrayList<>(out.size());
        for (Stack s : out) {
            if (!unique.contains(s)) {
                unique.add(s);
            }
        }
        return unique.toArray(new Stack[0]);
    }

    static int cost(Stack[] state) {
        int c = SchemaNode.INFINITE;
        for (Stack s : state) {
            c = Math.min(c, s.cost);
        }
        return c;
    }

    static boolean accepting(Stack[] state) {
        for (Stack s : state) {
            if (s.accepting) {
                return true;
            }
        }
        return false;
    }
}
