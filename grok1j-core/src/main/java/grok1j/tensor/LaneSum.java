package grok1j.tensor;

/**
 * The sum of a float vector's lanes in a fixed order. {@code reduceLanes(ADD)} leaves the order of its additions
 * unspecified and C2's order differs from the interpreter's, so a dot product's last bit would depend on how far the
 * JIT had got (measured: the same unembedding row gave different logits before and after compilation). The fold
 * here adds lane {@code i + w} to lane {@code i} for {@code w = L/2, L/4, .., 1}, whichever code runs it.
 *
 * <p>Kernels store the vector with {@code intoArray} and fold the stored lanes here ({@link #sum(float[], int, int)}),
 * never passing the vector to a call: C2 stops inlining inside large methods (NodeCountInliningCutoff), and a vector
 * passed to a call it did not inline is boxed, its lanes copied to a new array. When the fold took the vector (a loop
 * over an array of shuffles), that was about 2 KB per call, 31.5 MB per float32 unembedding of Grok-1 (131072 rows)
 * on the calling thread alone; while the heap grew every fresh page of that garbage was a page fault, and the first
 * decode steps of a bench spent half their time in the kernel, unembedding in 220-450 ms instead of 64.
 */
final class LaneSum {
    private LaneSum() {}

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[8 * 16]);

    /** This thread's room for eight vectors of up to 16 lanes, for {@link #sum(float[], int, int)}. */
    static float[] scratch() {
        return SCRATCH.get();
    }

    /**
     * The sum of the vector stored at {@code lanes[off, off + n)} ({@code n} a power of two), folded in place: lane
     * {@code i + w} added to lane {@code i} for {@code w = n/2, .., 1}, then lane 0. A vector stored with
     * {@code intoArray}, which the JDK forces inline, and a call with an array stay free of allocation whatever C2
     * inlines (F32Matrix's four-row kernel used to box 384 bytes per call at its lane sums).
     */
    static float sum(float[] lanes, int off, int n) {
        for (int w = n / 2; w >= 1; w /= 2) {
            for (int i = 0; i < w; i++) {
                lanes[off + i] += lanes[off + i + w];
            }
        }
        return lanes[off];
    }
}
