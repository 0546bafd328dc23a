package grok1j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sum of a float vector's lanes in a fixed order. {@code reduceLanes(ADD)} leaves the order of its additions
 * unspecified and C2's order differs from the interpreter's, so a dot product's last bit would depend on how far the
 * JIT had got (measured: the same unembedding row gave different logits before and after compilation). The fold
 * here adds lane {@code i + w} to lane {@code i} for {@code w = L/2, L/4, .., 1}, whichever code runs it.
 */
final class LaneSum {
    private LaneSum() {}

    /** The folds of {@link #sum} for {@code species}; keep them in a static final field (C2 constant-folds them). */
    @SuppressWarnings("unchecked")
    static VectorShuffle<Float>[] folds(VectorSpecies<Float> species) {
        int lanes = species.length();
        int steps = Integer.numberOfTrailingZeros(lanes);
        VectorShuffle<Float>[] f = new VectorShuffle[steps];
        for (int j = 0, w = lanes / 2; j < steps; j++, w /= 2) {
            final int shift = w;
            f[j] = VectorShuffle.fromOp(species, i -> (i + shift) % lanes);
        }
        return f;
    }

    /** The lanes of {@code v} summed as a pairwise tree in the order of {@code folds} (from {@link #folds}). */
    static float sum(FloatVector v, VectorShuffle<Float>[] folds) {
        for (VectorShuffle<Float> fold : folds) {
            v = v.add(v.rearrange(fold));
        }
        return v.lane(0);
    }
}
