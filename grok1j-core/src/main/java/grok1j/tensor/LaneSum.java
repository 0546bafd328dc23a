package grok1j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

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

    private static final VectorSpecies<Float> F = GgmlKernels.L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;

    /**
     * The same fold in registers, for the GGUF decode kernels' vectors ({@link GgmlKernels#L} lanes): {@code v =
     * v.add(v.rearrange(FOLD_1))}, then {@code FOLD_2}, {@code FOLD_3} and, with 16 lanes, {@code FOLD_4}, leaves the
     * sum in lane 0. Step {@code s} adds lane {@code i ^ (L >> s)} to lane {@code i}: in the lanes that go on, lane
     * {@code i + w} to lane {@code i} for {@code w = L/2, .., 1}, the order of {@link #sum(float[], int, int)}, bit
     * for bit. Lane-wise adds and permutes round the same in the interpreter and in C2, where
     * {@code reduceLanes(ADD)} does not (a Q8_0 matrix's outputs differed in their last bit between a kernel's first
     * call and its compiled calls), and written out in each kernel they stay in registers, where a store and the
     * scalar fold above cost the Q4_K decode kernel 10-15 % (2 threads, 131,072 x 6144, Zen 5). The kernels write the
     * steps out rather than call a method with the vector: see the class comment.
     */
    static final VectorShuffle<Float> FOLD_1 = VectorShuffle.fromOp(F, i -> i ^ (F.length() >> 1));
    static final VectorShuffle<Float> FOLD_2 = VectorShuffle.fromOp(F, i -> i ^ (F.length() >> 2));
    static final VectorShuffle<Float> FOLD_3 = VectorShuffle.fromOp(F, i -> i ^ (F.length() >> 3));
    /** The fourth step, with 16 lanes only (with 8 it is the identity, not to be used). */
    static final VectorShuffle<Float> FOLD_4 = VectorShuffle.fromOp(F, i -> i ^ (F.length() >> 4));

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
