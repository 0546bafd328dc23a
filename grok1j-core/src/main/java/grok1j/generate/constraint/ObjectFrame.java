package grok1j.generate.constraint;

import grok1j.generate.constraint.SchemaNode.ObjectNode;
import grok1j.generate.constraint.SchemaNode.StringNode;
import java.util.BitSet;
import java.util.List;

/**
 * Inside an object. Declared properties come in declaration order, each optional one may be left out; a free
 * object (no declared properties) takes any string keys.
 *
 * @param phase     {@link #OPEN} after "{", {@link #KEY} inside a declared key, {@link #COLON} after a key,
 *                  {@link #AFTER} after a value, {@link #COMMA} after ","
 * @param next      OPEN/AFTER/COMMA: the first property that may come next; KEY: likewise; COLON: the key's property
 *                  (-1 for a free object)
 * @param ws        whitespace bytes in the current run
 * @param keyPos    KEY: key bytes matched so far
 * @param keys      KEY: the properties whose key starts with the bytes matched so far (not modified)
 */
record ObjectFrame(ObjectNode node, int phase, int next, int ws, int keyPos, BitSet keys) implements Frame {
    static final int OPEN = 0;
    static final int KEY = 1;
    static final int COLON = 2;
    static final int AFTER = 3;
    static final int COMMA = 4;
    /** Keys of a free object. */
    static final StringNode FREE_KEY = new StringNode(0, -1);

    static {
        FREE_KEY.updateMinBytes();
    }

    @Override
    public void feed(int b, Stack below, List<Stack> out) {
        if (phase != KEY && Frame.whitespace(b)) {
            if (ws < MAX_WHITESPACE) {
                out.add(new Stack(new ObjectFrame(node, phase, next, ws + 1, 0, null), below));
            }
            return;
        }
        switch (phase) {
            case OPEN, COMMA -> {
                if (b == '}' && phase == OPEN && !node.requiredRemain(0)) {
                    out.add(below);
                } else if (b == '"') {
                    startKey(below, out);
                }
            }
            case KEY -> key(b, below, out);
            case COLON -> {
                if (b == ':') {
                    SchemaNode value = next < 0 ? node.freeValue : node.values[next];
                    Stack after = new Stack(new ObjectFrame(node, AFTER, next < 0 ? 0 : next + 1, 0, 0, null), below);
                    out.add(new Stack(new Frame.ValueStart(value, 0), after));
                }
            }
            default -> { // AFTER
                if (b == '}' && !node.requiredRemain(next)) {
                    out.add(below);
                } else if (b == ',' && (node.free() || !candidates(next).isEmpty())) {
                    out.add(new Stack(new ObjectFrame(node, COMMA, next, 0, 0, null), below));
                }
            }
        }
    }

    private void startKey(Stack below, List<Stack> out) {
        if (node.free()) {
            Stack colon = new Stack(new ObjectFrame(node, COLON, -1, 0, 0, null), below);
            out.add(new Stack(new StringFrame(FREE_KEY, 0, StringFrame.NORMAL, 0, 0, 0), colon));
            return;
        }
        BitSet c = candidates(next);
        if (!c.isEmpty()) {
            out.add(new Stack(new ObjectFrame(node, KEY, next, 0, 0, c), below));
        }
    }

    private BitSet candidates(int from) {
        BitSet c = new BitSet();
        for (int i = from; i < node.names.length; i++) {
            if (node.candidate(from, i)) {
                c.set(i);
            }
        }
        return c;
    }

    private void key(int b, Stack below, List<Stack> out) {
        // an escaped quote inside a key continues it; a bare one ends it (key content never ends in a lone backslash)
        BitSet c = new BitSet();
        for (int i = keys.nextSetBit(0); i >= 0; i = keys.nextSetBit(i + 1)) {
            byte[] k = node.keys[i];
            if (keyPos < k.length && (k[keyPos] & 0xFF) == b) {
                c.set(i);
            }
        }
        if (!c.isEmpty()) {
            out.add(new Stack(new ObjectFrame(node, KEY, next, 0, keyPos + 1, c), below));
        }
        if (b == '"') {
            for (int i = keys.nextSetBit(0); i >= 0; i = keys.nextSetBit(i + 1)) {
                if (node.keys[i].length == keyPos) {
                    out.add(new Stack(new ObjectFrame(node, COLON, i, 0, 0, null), below));
                    return;
                }
            }
        }
    }

    @Override
    public boolean canEnd() {
        return false;
    }

    @Override
    public int cost() {
        if (node.free()) {
            return switch (phase) {
                case COLON -> SchemaNode.add(2, node.freeValue.minBytes);
                case COMMA -> SchemaNode.add(4, node.freeValue.minBytes);
                default -> 1; // OPEN, AFTER: "}"
            };
        }
        return switch (phase) {
            case OPEN -> {
                int r = node.requiredFrom(0);
                yield r == 0 ? 1 : r; // the first entry has no comma: r - 1 + "}"
            }
            case KEY -> {
                int best = SchemaNode.INFINITE;
                for (int i = keys.nextSetBit(0); i >= 0; i = keys.nextSetBit(i + 1)) {
                    // rest of the key, '"', ':', the value, the required ones after it, '}'
                    int c = SchemaNode.add(node.keys[i].length - keyPos + 3, SchemaNode.add(node.values[i].minBytes, node.requiredFrom(i + 1)));
                    best = Math.min(best, c);
                }
                yield best;
            }
            case COLON -> SchemaNode.add(2, SchemaNode.add(node.values[next].minBytes, node.requiredFrom(next + 1)));
            case COMMA -> {
                int best = SchemaNode.INFINITE;
                for (int i = next; i < node.names.length; i++) {
                    if (node.candidate(next, i)) {
                        best = Math.min(best, SchemaNode.add(1, node.entriesChoosing(i)));
                    }
                }
                yield best;
            }
            default -> SchemaNode.add(1, node.requiredFrom(next)); // AFTER
        };
    }
}
