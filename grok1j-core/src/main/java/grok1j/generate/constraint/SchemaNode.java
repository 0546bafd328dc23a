package grok1j.generate.constraint;

/**
 * A compiled JSON schema: the shapes of document a constraint generates. Nodes form a graph ({@code $ref} may
 * recurse); {@link #minBytes} is the length of the shortest document of the node, found by a fixed point over the
 * graph ({@link #INFINITE} when none is finite).
 */
abstract sealed class SchemaNode {
    static final int INFINITE = Integer.MAX_VALUE / 4;

    int minBytes = INFINITE;

    /** Recomputes {@link #minBytes} from the children's; @return true if it changed */
    abstract boolean updateMinBytes();

    static int add(int a, int b) {
        return Math.min(INFINITE, a + b);
    }

    /**
     * An object. With declared properties, documents hold a subset of them in declaration order (every required one);
     * with none declared ({@code free}), any keys, each with a value of {@code freeValue}.
     */
    static final class ObjectNode extends SchemaNode {
        final String[] names;
        /** Each name as JSON string content (without the quotes), UTF-8. */
        final byte[][] keys;
        final SchemaNode[] values;
        final boolean[] required;
        final SchemaNode freeValue;

        ObjectNode(String[] names, byte[][] keys, SchemaNode[] values, boolean[] required, SchemaNode freeValue) {
            this.names = names;
            this.keys = keys;
            this.values = values;
            this.required = required;
            this.freeValue = freeValue;
        }

        boolean free() {
            return freeValue != null;
        }

        /** Bytes of {@code "key":value} for property i at its shortest. */
        int entryBytes(int i) {
            return add(keys[i].length + 3, values[i].minBytes);
        }

        /** Bytes of {@code ,"key":value} for every required property from index {@code from} on. */
        int requiredFrom(int from) {
            int sum = 0;
            for (int i = from; i < names.length; i++) {
                if (required[i]) {
                    sum = add(sum, add(1, entryBytes(i)));
                }
            }
            return sum;
        }

        /** The shortest {@code "key":value...} after an opening brace or a comma, choosing property i first. */
        int entriesChoosing(int i) {
            return add(entryBytes(i), requiredFrom(i + 1));
        }

        /** May property i be the next one when properties before {@code next} are done? (No required one skipped.) */
        boolean candidate(int next, int i) {
            if (i < next || values[i].minBytes >= INFINITE) {
                return false;
            }
            for (int j = next; j < i; j++) {
                if (required[j]) {
                    return false;
                }
            }
            return true;
        }

        boolean requiredRemain(int next) {
            for (int i = next; i < names.length; i++) {
                if (required[i]) {
                    return true;
                }
            }
            return false;
        }

        @Override
        boolean updateMinBytes() {
            int m;
            if (free()) {
                m = 2;
            } else {
                int r = requiredFrom(0);
                m = add(2, r == 0 ? 0 : r - 1); // the first entry has no comma
            }
            boolean changed = m != minBytes;
            minBytes = m;
            return changed;
        }
    }

    /** An array of {@code items} with between minItems and maxItems (-1: unbounded) elements. */
    static final class ArrayNode extends SchemaNode {
        SchemaNode items;
        final int minItems;
        final int maxItems;

        ArrayNode(SchemaNode items, int minItems, int maxItems) {
            this.items = items;
            this.minItems = minItems;
            this.maxItems = maxItems;
        }

        /** Bytes to close after {@code count} elements: the missing elements with their commas, and "]". */
        int closeAfter(int count) {
            int missing = Math.max(0, minItems - count);
            return add(1, missing == 0 ? 0 : (int) Math.min(INFINITE, (long) missing * add(1, items.minBytes)));
        }

        @Override
        boolean updateMinBytes() {
            int m = minItems == 0 ? 2 : add(1, closeAfter(0) - 1); // "[" + elements + "]", no comma before the first
            if (minItems > 0 && closeAfter(0) >= INFINITE) {
                m = INFINITE;
            }
            boolean changed = m != minBytes;
            minBytes = m;
            return changed;
        }
    }

    /** A string of between minLength and maxLength (-1: unbounded) characters (code points). */
    static final class StringNode extends SchemaNode {
        final int minLength;
        final int maxLength;

        StringNode(int minLength, int maxLength) {
            this.minLength = minLength;
            this.maxLength = maxLength;
        }

        @Override
        boolean updateMinBytes() {
            int m = 2 + minLength;
            boolean changed = m != minBytes;
            minBytes = m;
            return changed;
        }
    }

    /** A number, or an integer (digits only, no fraction or exponent). */
    static final class NumberNode extends SchemaNode {
        final boolean integer;

        NumberNode(boolean integer) {
            this.integer = integer;
        }

        @Override
        boolean updateMinBytes() {
            boolean changed = minBytes != 1;
            minBytes = 1;
            return changed;
        }
    }

    /** One of a fixed set of documents, each in its compact serialization (enum, const, true/false, null). */
    static final class LiteralNode extends SchemaNode {
        final byte[][] literals;

        LiteralNode(byte[][] literals) {
            this.literals = literals;
        }

        @Override
        boolean updateMinBytes() {
            int m = INFINITE;
            for (byte[] l : literals) {
                m = Math.min(m, l.length);
            }
            boolean changed = m != minBytes;
            minBytes = m;
            return changed;
        }
    }

    /** A document of any of the alternatives. */
    static final class AnyOfNode extends SchemaNode {
        SchemaNode[] alternatives;

        AnyOfNode(SchemaNode[] alternatives) {
            this.alternatives = alternatives;
        }

        @Override
        boolean updateMinBytes() {
            int m = INFINITE;
            for (SchemaNode a : alternatives) {
                m = Math.min(m, a.minBytes);
            }
            boolean changed = m != minBytes;
            minBytes = m;
            return changed;
        }
    }

    /** A {@code $ref}: the node it names (set once the whole schema is compiled). */
    static final class RefNode extends SchemaNode {
        SchemaNode target;

        @Override
        boolean updateMinBytes() {
            int m = target.minBytes;
            boolean changed = m != minBytes;
            minBytes = m;
            return changed;
        }
    }
}
