package grok1j.tokenizer;

import java.util.Arrays;
import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;

/**
 * Finds the longest user-defined piece at a position of the normalized text (spec §7.2 step 2).
 *
 * <p>A character trie whose children are kept as sorted label arrays; the root test is a binary search over the few
 * first characters of user-defined pieces (Grok-1: 65 pieces, 6 distinct first characters), so the common case of
 * "no user-defined piece starts here" costs one search.
 */
final class UserSymbolMatcher {
    private static final char[] NO_LABELS = {};
    private static final Node[] NO_CHILDREN = {};

    private static final class Node {
        char[] labels = NO_LABELS;
        Node[] children = NO_CHILDREN;
        boolean endsPiece;

        Node child(char c) {
            int i = Arrays.binarySearch(labels, c);
            return i >= 0 ? children[i] : null;
        }
    }

    /** Construction-time node with an ordered child map, frozen into {@link Node}. */
    private static final class Builder {
        final Map<Character, Builder> children = new TreeMap<>();
        boolean endsPiece;

        Node freeze() {
            Node node = new Node();
            node.endsPiece = endsPiece;
            if (!children.isEmpty()) {
                node.labels = new char[children.size()];
                node.children = new Node[children.size()];
                int i = 0;
                for (Map.Entry<Character, Builder> e : children.entrySet()) {
                    node.labels[i] = e.getKey();
                    node.children[i++] = e.getValue().freeze();
                }
            }
            return node;
        }
    }

    private final Node root;

    UserSymbolMatcher(Collection<String> userDefinedPieces) {
        Builder rootBuilder = new Builder();
        for (String piece : userDefinedPieces) {
            Builder b = rootBuilder;
            for (int i = 0; i < piece.length(); i++) {
                b = b.children.computeIfAbsent(piece.charAt(i), c -> new Builder());
            }
            b.endsPiece = true;
        }
        root = rootBuilder.freeze();
    }

    /** @return the length in chars of the longest user-defined piece that {@code text[pos, end)} starts with, or 0 */
    int longestMatch(char[] text, int pos, int end) {
        int longest = 0;
        Node node = root;
        for (int i = pos; i < end; i++) {
            node = node.child(text[i]);
            if (node == null) {
                break;
            }
            if (node.endsPiece) {
                longest = i + 1 - pos;
            }
        }
        return longest;
    }
}
