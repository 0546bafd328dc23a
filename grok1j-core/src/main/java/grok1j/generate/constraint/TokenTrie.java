package grok1j.generate.constraint;

import java.util.Arrays;

/**
 * The tokens' bytes as a trie, so that a mask is computed by walking the trie once with the matcher: a prefix the
 * matcher rejects prunes every token below it. Nodes are numbered; children are stored as parallel arrays sorted by
 * byte. Immutable after construction.
 */
final class TokenTrie {
    /** firstChild[node]..firstChild[node+1]-1 index childByte/childNode. */
    final int[] firstChild;
    final byte[] childByte;
    final int[] childNode;
    /** firstToken[node]..firstToken[node+1]-1 index tokens: the ids whose bytes end at node. */
    final int[] firstToken;
    final int[] tokens;
    /** The longest token, in bytes. */
    final int maxTokenBytes;

    TokenTrie(TokenBytes vocab) {
        // Sorted byte strings give the nodes in depth-first order: each token shares its longest common prefix
        // with the one before it and adds nodes for the rest.
        int n = vocab.size();
        Integer[] order = new Integer[n];
        int texts = 0;
        for (int id = 0; id < n; id++) {
            if (vocab.bytes(id) != null) {
                order[texts++] = id;
            }
        }
        Arrays.sort(order, 0, texts, (a, b) -> Arrays.compareUnsigned(vocab.bytes(a), vocab.bytes(b)));
        int cap = 1;
        int longest = 0;
        for (int i = 0; i < texts; i++) {
            cap += vocab.bytes(order[i]).length;
            longest = Math.max(longest, vocab.bytes(order[i]).length);
        }
        int[] parent = new int[cap];
        byte[] via = new byte[cap];
        int[] endsAt = new int[texts];
        int[] path = new int[longest + 1]; // path[d]: the node at depth d of the previous token
        int nodes = 1;
        byte[] prev = new byte[0];
        for (int i = 0; i < texts; i++) {
            byte[] b = vocab.bytes(order[i]);
            int common = Arrays.mismatch(prev, b);
            if (common < 0) {
                common = b.length; // a duplicate byte string
            }
            for (int d = common; d < b.length; d++) {
                parent[nodes] = path[d];
                via[nodes] = b[d];
                path[d + 1] = nodes++;
            }
            endsAt[i] = path[b.length];
            prev = b;
        }
        // children of each node: contiguous, in creation (= byte) order
        firstChild = new int[nodes + 1];
        for (int c = 1; c < nodes; c++) {
            firstChild[parent[c] + 1]++;
        }
        for (int i = 0; i < nodes; i++) {
            firstChild[i + 1] += firstChild[i];
        }
        childByte = new byte[nodes - 1];
        childNode = new int[nodes - 1];
        int[] fill = Arrays.copyOf(firstChild, nodes);
        for (int c = 1; c < nodes; c++) {
            int at = fill[parent[c]]++;
            childByte[at] = via[c];
            childNode[at] = c;
        }
        firstToken = new int[nodes + 1];
        for (int i = 0; i < texts; i++) {
            firstToken[endsAt[i] + 1]++;
        }
        for (int i = 0; i < nodes; i++) {
            firstToken[i + 1] += firstToken[i];
        }
        tokens = new int[texts];
        int[] put = Arrays.copyOf(firstToken, nodes);
        for (int i = 0; i < texts; i++) {
            tokens[put[endsAt[i]]++] = order[i];
        }
        maxTokenBytes = longest;
    }

    int nodes() {
        return firstChild.length - 1;
    }
}
