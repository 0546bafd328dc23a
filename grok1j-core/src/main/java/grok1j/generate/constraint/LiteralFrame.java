package grok1j.generate.constraint;

import grok1j.generate.constraint.SchemaNode.LiteralNode;
import java.util.BitSet;
import java.util.List;

/**
 * Inside one of a fixed set of literals (enum, const, true, false, null): {@code pos} bytes matched, {@code candidates}
 * the literals that start with them (not modified).
 */
record LiteralFrame(LiteralNode node, int pos, BitSet candidates) implements Frame {
    static BitSet all(LiteralNode n) {
        BitSet s = new BitSet();
        s.set(0, n.literals.length);
        return s;
    }

    @Override
    public void feed(int b, Stack below, List<Stack> out) {
        LiteralFrame f = next(b);
        if (f != null) {
            out.add(new Stack(f, below));
        }
    }

    /** @return the frame after b, or null if no candidate continues with it */
    LiteralFrame next(int b) {
        BitSet c = new BitSet();
        for (int i = candidates.nextSetBit(0); i >= 0; i = candidates.nextSetBit(i + 1)) {
            byte[] l = node.literals[i];
            if (pos < l.length && (l[pos] & 0xFF) == b) {
                c.set(i);
            }
        }
        return c.isEmpty() ? null : new LiteralFrame(node, pos + 1, c);
    }

    @Override
    public boolean canEnd() {
        for (int i = candidates.nextSetBit(0); i >= 0; i = candidates.nextSetBit(i + 1)) {
            if (node.literals[i].length == pos) {
                return true;
            }
        }
        return false;
    }

    @Override
    public int cost() {
        int best = SchemaNode.INFINITE;
        for (int i = candidates.nextSetBit(0); i >= 0; i = candidates.nextSetBit(i + 1)) {
            best = Math.min(best, node.literals[i].length - pos);
        }
        return best;
    }
}
