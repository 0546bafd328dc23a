package grok1j.cli;

/** Helpers over a row of logits. */
final class Logits {
    private Logits() {}

    /** Ids of the {@code k} largest logits of {@code a[off, off+n)}, best first, ties to the lower id. */
    static int[] topK(float[] a, int off, int n, int k) {
        int[] best = new int[k];
        int size = 0;
        for (int i = 0; i < n; i++) {
            float v = a[off + i];
            if (size == k && v <= a[off + best[k - 1]]) {
                continue;
            }
            int j = size < k ? size++ : k - 1;
            while (j > 0 && a[off + best[j - 1]] < v) {
                best[j] = best[j - 1];
                j--;
            }
            best[j] = i;
        }
        return best;
    }

    /** log softmax of {@code a[off, off+n)} at {@code id}, computed in double. */
    static double logSoftmaxAt(float[] a, int off, int n, int id) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, a[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(a[off + i] - max);
        }
        return a[off + id] - max - Math.log(sum);
    }

    /** A piece shown in a terminal: control characters escaped. */
    static String quotePiece(String piece) {
        return "'" + piece.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + "'";
    }
}
