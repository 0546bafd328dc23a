package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The vector fits of Q4_K and Q6_K give bit for bit the scales (and mins) of the plain loops, on super-blocks of
 * every kind the quantizer meets: Gaussian, int8 on a bf16 grid, constant (flat), all zero, tiny, one-signed.
 */
class KQuantFitTest {
    private static float[] superBlock(Random r, int kind) {
        float[] x = new float[256];
        float s = BFloat16.round((float) (1e-4 * (1 + r.nextDouble())));
        for (int i = 0; i < 256; i++) {
            int sub = i / 32;
            x[i] = switch (kind) {
                case 0 -> (float) r.nextGaussian();
                case 1 -> (byte) r.nextInt() * s;
                case 2 -> sub % 3 == 0 ? -0.5f : sub % 3 == 1 ? 0.25f : 0f; // constant sub-blocks
                case 3 -> (float) (r.nextGaussian() * 1e-31 * r.nextInt(3));
                case 4 -> r.nextInt(4) == 0 ? 0f : -Math.abs((float) r.nextGaussian());
                case 5 -> r.nextInt(7) - 3;
                default -> Math.abs((float) r.nextGaussian()) + 5;
            };
        }
        return x;
    }

    @Test
    void vectorFitsEqualThePlainLoops() {
        Random r = new Random(11);
        for (int trial = 0; trial < 700; trial++) {
            float[] x = superBlock(r, trial % 7);
            KQuantFit.Scratch a = new KQuantFit.Scratch(), b = new KQuantFit.Scratch();
            for (KQuantFit.Scratch sc : new KQuantFit.Scratch[] {a, b}) {
                for (int j = 0; j < 8; j++) {
                    for (int i = 0; i < 32; i++) {
                        sc.xt[i * 8 + j] = x[32 * j + i];
                        sc.wt[i * 8 + j] = 0.3f + Math.abs(x[32 * j + i]);
                    }
                }
            }
            KQuantFit.affine8Scalar(15, -1f, 0.1f, 20, a);
            KQuantFit.affine8Vector(15, -1f, 0.1f, 20, b);
            String what = "kind " + trial % 7 + ": " + Arrays.toString(x);
            assertArrayEquals(Arrays.copyOf(a.scale, 8), Arrays.copyOf(b.scale, 8), what);
            assertArrayEquals(a.mins, b.mins, what);

            for (KQuantFit.Scratch sc : new KQuantFit.Scratch[] {a, b}) {
                for (int j = 0; j < 16; j++) {
                    for (int i = 0; i < 16; i++) {
                        sc.xt[i * 16 + j] = x[16 * j + i];
                    }
                }
            }
            KQuantFit.symmetric16Scalar(32, a);
            KQuantFit.symmetric16Vector(32, b);
            assertArrayEquals(a.scale, b.scale, what);
        }
    }
}
