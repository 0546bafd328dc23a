package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class TokenLogprobsTest {
    @Test
    void topTokensAreSortedNonPositiveAndMatchLogSoftmax() {
        Random r = new Random(7);
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() * 4);
        }
        logits[17] = logits[18] = 30f; // a tie: the lower id first
        TokenLogprobs lp = TokenLogprobs.of(logits, 42, 5);
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l);
        }
        double lse = Math.log(sum);
        assertEquals(logits[42] - lse, lp.logprob(), 1e-4);
        assertEquals(17, lp.topIds()[0]);
        assertEquals(18, lp.topIds()[1]);
        for (int k = 0; k < 5; k++) {
            assertTrue(lp.topLogprobs()[k] <= 0);
            assertEquals(logits[lp.topIds()[k]] - lse, lp.topLogprobs()[k], 1e-4);
            if (k > 0) {
                assertTrue(lp.topLogprobs()[k] <= lp.topLogprobs()[k - 1]);
            }
        }
        // the top 5 by a full sort
        Integer[] idx = new Integer[logits.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        java.util.Arrays.sort(idx, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int[] expected = new int[5];
        for (int k = 0; k < 5; k++) {
            expected[k] = idx[k];
        }
        assertArrayEquals(expected, lp.topIds());
    }

    @Test
    void aCertainTokenHasLogprobZeroNotPositive() {
        float[] logits = {-1000f, 50f, -1000f};
        TokenLogprobs lp = TokenLogprobs.of(logits, 1, 3);
        assertEquals(0f, lp.logprob(), 0f);
        assertTrue(lp.topLogprobs()[2] <= 0);
        assertEquals(0, TokenLogprobs.of(logits, 1, 0).topIds().length);
    }
}
