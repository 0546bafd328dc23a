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
 * <p>The folds are written out per vector width with constant shuffles. They used to be a loop over an array of
 * shuffles, which C2 did not turn into vector instructions: every fold boxed its vector and allocated its lanes as an
 * array, about 2 KB per call, 31.5 MB per float32 unembedding of Grok-1 (131072 rows) on the calling thread alone.
 * The garbage cost little while the heap's pages were reused, but while the heap grew every fresh page was a page
 * fault: the first decode steps of a bench spent half their time in the kernel, unembedding in 220-450 ms instead of
 * 64.
 */
final class LaneSum {
    private LaneSum() {}

    private static final VectorShuffle<Float> S16_8 = fold(FloatVector.SPECIES_512, 8);
    private static final VectorShuffle<Float> S16_4 = fold(FloatVector.SPECIES_512, 4);
    private static final VectorShuffle<Float> S16_2 = fold(FloatVector.SPECIES_512, 2);
    private static final VectorShuffle<Float> S16_1 = fold(FloatVector.SPECIES_512, 1);
    private static final VectorShuffle<Float> S8_4 = fold(FloatVector.SPECIES_256, 4);
    private static final VectorShuffle<Float> S8_2 = fold(FloatVector.SPECIES_256, 2);
    private static final VectorShuffle<Float> S8_1 = fold(FloatVector.SPECIES_256, 1);
    private static final VectorShuffle<Float> S4_2 = fold(FloatVector.SPECIES_128, 2);
    private static final VectorShuffle<Float> S4_1 = fold(FloatVector.SPECIES_128, 1);

    /** Lane {@code i} takes lane {@code (i + w) mod L}. */
    private static VectorShuffle<Float> fold(VectorSpecies<Float> species, int w) {
        int lanes = species.length();
        return VectorShuffle.fromOp(species, i -> (i + w) % lanes);
    }

    /**
     * The lanes of {@code v} summed as a pairwise tree: lane {@code i + w} added to lane {@code i} for
     * {@code w = L/2, .., 1}, then lane 0. The vector's width is a constant wherever this is inlined into a kernel, so
     * C2 keeps one branch.
     */
    static float sum(FloatVector v) {
        switch (v.length()) {
            case 16 -> {
                v = v.add(v.rearrange(S16_8));
                v = v.add(v.rearrange(S16_4));
                v = v.add(v.rearrange(S16_2));
                v = v.add(v.rearrange(S16_1));
            }
            case 8 -> {
                v = v.add(v.rearrange(S8_4));
                v = v.add(v.rearrange(S8_2));
                v = v.add(v.rearrange(S8_1));
            }
            case 4 -> {
                v = v.add(v.rearrange(S4_2));
                v = v.add(v.rearrange(S4_1));
            }
            default -> {
                return sumInOrder(v.toArray());
            }
        }
        return v.lane(0);
    }

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[8 * 16]);

    /** This thread's room for eight vectors of up to 16 lanes, for {@link #sum(float[], int, int)}. */
    static float[] scratch() {
        return SCRATCH.get();
    }

    /**
     * {@link #sum(FloatVector)} of a vector stored at {@code lanes[off, off + n)} ({@code n} a power of two), folded in
     * place: the same additions in the same order, so the same bits. For large kernels: C2 stops inlining a method's
     * callees once its graph is big (NodeCountInliningCutoff), and a vector passed to a call that was not inlined is
     * boxed, its lanes copied to a new array. F32Matrix's four-row kernel hit that at its four lane sums (384 bytes per
     * call); a vector stored with {@code intoArray}, which the JDK forces inline, and a call with an array stay free of
     * allocation whatever C2 inlines.
     */
    static float sum(float[] lanes, int off, int n) {
        for (int w = n / 2; w >= 1; w /= 2) {
            for (int i = 0; i < w; i++) {
                lanes[off + i] += lanes[off + i + w];
            }
        }
        return lanes[off];
    }

    /** {@link #sum}'s order on an array of a power-of-two length (other vector widths; tests). */
    static float sumInOrder(float[] lanes) {
        return sum(lanes.clone(), 0, lanes.length);
    }
}
