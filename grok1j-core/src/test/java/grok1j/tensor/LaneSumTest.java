package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/** {@link LaneSum} sums a stored vector's lanes in the documented order at every width. */
class LaneSumTest {

    /** The pairwise tree written out: lane i + w added to lane i for w = L/2 .. 1, then lane 0. */
    private static float tree(float[] v, int off, int n) {
        if (n == 1) {
            return v[off];
        }
        float[] folded = new float[n / 2];
        for (int i = 0; i < n / 2; i++) {
            folded[i] = v[off + i] + v[off + i + n / 2];
        }
        return tree(folded, 0, n / 2);
    }

    @Test
    void storedLanesSumInTheTreeOrder() {
        Random rnd = new Random(11);
        for (VectorSpecies<Float> species : new VectorSpecies[] {FloatVector.SPECIES_128, FloatVector.SPECIES_256,
                FloatVector.SPECIES_512}) {
            int l = species.length();
            for (int round = 0; round < 1_000; round++) {
                float[] lanes = new float[l];
                for (int i = 0; i < l; i++) {
                    // magnitudes 2^-20 .. 2^20: sums whose rounding depends on the order
                    lanes[i] = (float) (rnd.nextGaussian() * Math.scalb(1.0, rnd.nextInt(41) - 20));
                }
                float expected = tree(lanes, 0, l);
                // the lanes as a kernel stores them: intoArray at an offset of the per-thread scratch
                float[] scratch = LaneSum.scratch();
                FloatVector.fromArray(species, lanes, 0).intoArray(scratch, 3 * l);
                assertEquals(expected, LaneSum.sum(scratch, 3 * l, l), 0f, l + " lanes");
            }
        }
    }

    /** The fold in registers ({@link LaneSum#FOLD_1} ..) gives the stored fold's sum, bit for bit, at the kernels' width. */
    @Test
    void foldInRegistersIsTheStoredFold() {
        VectorSpecies<Float> species = GgmlKernels.L == 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
        int l = species.length();
        Random rnd = new Random(12);
        for (int round = 0; round < 1_000; round++) {
            float[] lanes = new float[l];
            for (int i = 0; i < l; i++) {
                lanes[i] = (float) (rnd.nextGaussian() * Math.scalb(1.0, rnd.nextInt(41) - 20));
            }
            FloatVector v = FloatVector.fromArray(species, lanes, 0);
            v = v.add(v.rearrange(LaneSum.FOLD_1));
            v = v.add(v.rearrange(LaneSum.FOLD_2));
            v = v.add(v.rearrange(LaneSum.FOLD_3));
            if (l == 16) {
                v = v.add(v.rearrange(LaneSum.FOLD_4));
            }
            assertEquals(tree(lanes, 0, l), v.lane(0), 0f, l + " lanes");
        }
    }

    @Test
    void scratchHoldsEightVectorsOfSixteenLanes() {
        assertEquals(8 * 16, LaneSum.scratch().length);
    }
}
