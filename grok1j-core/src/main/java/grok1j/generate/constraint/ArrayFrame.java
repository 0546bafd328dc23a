package grok1j.generate.constraint;

import grok1j.generate.constraint.SchemaNode.ArrayNode;
import java.util.List;

/**
 * Inside an array: just after "[" ({@code afterValue} false) or after element number {@code count}.
 *
 * @param ws whitespace bytes in the current run
 */
record ArrayFrame(ArrayNode node, boolean afterValue, int count, int ws) implements Frame {
    @Override
    public void feed(int b, Stack below, List<Stack> out) {
        if (Frame.whitespace(b)) {
            if (ws < MAX_WHITESPACE) {
                out.add(new Stack(new ArrayFrame(node, afterValue, count, ws + 1), below));
            }
            return;
        }
        if (b == ']') {
            if (count >= node.minItems) {
                out.add(below);
            }
        } else if (!afterValue) {
            if (node.maxItems != 0 && node.items.minBytes < SchemaNode.INFINITE) {
                Stack after = new Stack(new ArrayFrame(node, true, 1, 0), below);
                new Stack(new Frame.ValueStart(node.items, 0), after).feed(b, out);
            }
        } else if (b == ',' && (node.maxItems < 0 || count < node.maxItems)) {
            Stack after = new Stack(new ArrayFrame(node, true, count + 1, 0), below);
            out.add(new Stack(new Frame.ValueStart(node.items, 0), after));
        }
    }

    @Override
    public boolean canEnd() {
        return false;
    }

    @Override
    public int cost() {
        if (!afterValue) {
            return node.minItems == 0 ? 1 : node.closeAfter(0) - 1; // no comma before the first element
        }
        return node.closeAfter(count);
    }

    @Override
    public Frame maskKey(int maxTokenBytes) {
        // without maxItems, counts past minItems all mask alike
        int k = node.maxItems < 0 ? Math.min(count, node.minItems) : count;
        return k == count ? this : new ArrayFrame(node, afterValue, k, ws);
    }
}
