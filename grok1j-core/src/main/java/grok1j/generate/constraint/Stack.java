package grok1j.generate.constraint;

import java.util.List;

/**
 * A persistent stack of {@link Frame}s: the matcher's position in the document, innermost value on top. Equal
 * stacks are interchangeable; hash, cost and acceptance are computed once.
 */
final class Stack {
    final Frame top;
    final Stack below;
    private final int hash;
    /** Fewest bytes that complete the document from here. */
    final int cost;
    /** Every frame can end: the document is complete here. */
    final boolean accepting;

    Stack(Frame top, Stack below) {
        this.top = top;
        this.below = below;
        this.hash = top.hashCode() * 31 + (below == null ? 0 : below.hash);
        this.cost = SchemaNode.add(top.cost(), below == null ? 0 : below.cost);
        this.accepting = top.canEnd() && (below == null || below.accepting);
    }

    /** Adds the stacks that result from consuming {@code b}. */
    void feed(int b, List<Stack> out) {
        top.feed(b, below, out);
        if (top.canEnd() && below != null) {
            below.feed(b, out);
        }
    }

    /** This stack with every frame replaced by its {@link Frame#maskKey}. */
    Stack maskKey(int maxTokenBytes) {
        Stack k = below == null ? null : below.maskKey(maxTokenBytes);
        Frame f = top.maskKey(maxTokenBytes);
        return f == top && k == below ? this : new Stack(f, k);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Stack s) || s.hash != hash) {
            return false;
        }
        Stack a = this;
        Stack b = s;
        while (a != null && b != null) {
            if (a == b) {
                return true;
            }
            if (!a.top.equals(b.top)) {
                return false;
            }
            a = a.below;
            b = b.below;
        }
        return a == b;
    }

    @Override
    public int hashCode() {
        return hash;
    }
}
