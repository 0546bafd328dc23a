package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.tensor.Kernels;
import org.junit.jupiter.api.Test;

/** The erf GELU of Grok-2 (grok-2 spec §2.4) against Python's {@code math.erf} values. */
class ErfGeluTest {

    @Test
    void erfIsAccurateToAboutOneInTenMillion() {
        double[][] cases = {{0.5, 0.5204998778130465}, {1, 0.8427007929497149}, {2, 0.9953222650189527},
                {-1.5, -0.9661051464753108}, {3, 0.9999779095030014}, {0.01, 0.011283415555849616}, {0, 0}};
        for (double[] c : cases) {
            assertEquals(c[1], ErfGelu.erf(c[0]), 2.5e-7, "erf(" + c[0] + ")");
        }
    }

    @Test
    void geluIsTheErfFormNotTheTanhApproximation() {
        float[][] cases = {{1, 0.8413447460685429f}, {-2.7f, -0.00936082926820982f}, {2.7f, 2.6906391707317905f},
                {-0.3f, -0.1146265733433142f}, {5, 4.999998566742141f}, {0, 0}};
        for (float[] c : cases) {
            assertEquals(c[1], ErfGelu.gelu(c[0]), 1e-6, "gelu(" + c[0] + ")");
        }
        // near |x| = 2.7 the two forms differ by ~4.7e-4 (spec §2.4): the test above would see the tanh form
        assertTrue(Math.abs(ErfGelu.gelu(-2.7f) - Kernels.gelu(-2.7f)) > 4e-4);
    }
}
