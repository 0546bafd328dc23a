package grok1j.generate.constraint;

import grok1j.generate.constraint.SchemaNode.AnyOfNode;
import grok1j.generate.constraint.SchemaNode.ArrayNode;
import grok1j.generate.constraint.SchemaNode.LiteralNode;
import grok1j.generate.constraint.SchemaNode.NumberNode;
import grok1j.generate.constraint.SchemaNode.ObjectNode;
import grok1j.generate.constraint.SchemaNode.RefNode;
import grok1j.generate.constraint.SchemaNode.StringNode;
import java.util.List;

/**
 * One level of the pushdown matcher: where the document is inside one value. Frames are immutable values (records:
 * equal frames are interchangeable, which is what lets masks be cached per state). A byte fed to a frame yields zero
 * or more successor stacks; a frame that {@link #canEnd} also lets the byte through to the frame below (a number
 * ends at the first byte that cannot extend it).
 */
sealed interface Frame permits Frame.Done, Frame.ValueStart, ObjectFrame, ArrayFrame, StringFrame, NumberFrame, LiteralFrame {
    /**
     * Longest run of whitespace accepted between tokens (and before the document): one space, enough for the
     * {@code ", "} and {@code ": "} a model likes to write, so that a short {@code max_tokens} is not spent on
     * indentation (issue 12: a document cut short after a run of whitespace).
     */
    int MAX_WHITESPACE = 1;

    /** Adds to {@code out} the stacks that result from this frame (on top of {@code below}) consuming {@code b}. */
    void feed(int b, Stack below, List<Stack> out);

    /** True when this value is complete and may be followed by whatever the frame below accepts. */
    boolean canEnd();

    /** The fewest bytes until this frame {@link #canEnd}: exact, so that a byte on a shortest path lowers it by 1. */
    int cost();

    /** An equal-masking stand-in: counters saturated where no token ({@code maxTokenBytes} long) can tell. */
    default Frame maskKey(int maxTokenBytes) {
        return this;
    }

    /** The whitespace a generated document may hold between tokens: a space (no tabs, returns or newlines). */
    static boolean whitespace(int b) {
        return b == ' ';
    }

    /** The bottom of every stack: the document is complete; nothing may follow. */
    record Done() implements Frame {
        static final Done INSTANCE = new Done();

        @Override
        public void feed(int b, Stack below, List<Stack> out) {
        }

        @Override
        public boolean canEnd() {
            return true;
        }

        @Override
        public int cost() {
            return 0;
        }
    }

    /** Before a value of {@code node}, after {@code ws} whitespace bytes. */
    record ValueStart(SchemaNode node, int ws) implements Frame {
        @Override
        public void feed(int b, Stack below, List<Stack> out) {
            if (whitespace(b)) {
                if (ws < MAX_WHITESPACE) {
                    out.add(new Stack(new ValueStart(node, ws + 1), below));
                }
                return;
            }
            start(node, b, below, out);
        }

        /** The first byte of a value of {@code n}: chooses the kind of value. */
        static void start(SchemaNode n, int b, Stack below, List<Stack> out) {
            switch (n) {
                case RefNode r -> start(r.target, b, below, out);
                case AnyOfNode a -> {
                    for (SchemaNode alt : a.alternatives) {
                        if (alt.minBytes < SchemaNode.INFINITE) {
                            start(alt, b, below, out);
                        }
                    }
                }
                case ObjectNode o -> {
                    if (b == '{') {
                        out.add(new Stack(new ObjectFrame(o, ObjectFrame.OPEN, 0, 0, 0, null), below));
                    }
                }
                case ArrayNode a -> {
                    if (b == '[') {
                        out.add(new Stack(new ArrayFrame(a, false, 0, 0), below));
                    }
                }
                case StringNode s -> {
                    if (b == '"') {
                        out.add(new Stack(new StringFrame(s, 0, StringFrame.NORMAL, 0, 0, 0), below));
                    }
                }
                case NumberNode num -> {
                    if (b == '-') {
                        out.add(new Stack(new NumberFrame(num.integer, NumberFrame.SIGN, 0), below));
                    } else if (b == '0') {
                        out.add(new Stack(new NumberFrame(num.integer, NumberFrame.ZERO, 1), below));
                    } else if (b >= '1' && b <= '9') {
                        out.add(new Stack(new NumberFrame(num.integer, NumberFrame.INT, 1), below));
                    }
                }
                case LiteralNode l -> {
                    LiteralFrame f = new LiteralFrame(l, 0, LiteralFrame.all(l)).next(b);
                    if (f != null) {
                        out.add(new Stack(f, below));
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
            return node.minBytes;
        }
    }
}
