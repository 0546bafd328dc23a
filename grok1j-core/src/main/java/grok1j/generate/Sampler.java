package grok1j.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits.
 *
 * <p>Temperature 0 is greedy: the arg-max, ties to the lower id; so is top-p 0 (llama.cpp's meaning). Otherwise, in this order (as vLLM does):
 * logits / temperature, softmax, top-k, top-p (nucleus), min-p (relative to the most likely token), renormalise,
 * then draw from a {@link SplittableRandom} seeded with {@link SamplingParams#seed()}, so the same seed gives the
 * same tokens. The JAX reference's threefry/Gumbel stream is not reproduced (spec §7.5).
 *
 * <p>One instance per sequence; not thread-safe.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private long[] order = new long[0];
    private float[] probs = new float[0];

    public Sampler(SamplingParams params) {
        this.params = params;
        long seed = params.seed() != null ? params.seed() : new SplittableRandom().nextLong();
        this.random = new SplittableRandom(seed);
    }

    /** @param logits {@code [vocab]}, not modified; @return the chosen id */
    public int sample(float[] logits) {
        return sample(logits, 0, logits.length);
    }

    /** Samples from {@code logits[off, off+vocab)}; returns an id in {@code [0, vocab)}. */
    public int sample(float[] logits, int off, int vocab) {
        if (params.temperature() == 0 || params.topP() == 0) {
            return argmax(logits, off, vocab);
        }
        if (probs.length < vocab) {
            probs = new float[vocab];
            order = new long[vocab];
        }
        float inv = (float) (1.0 / params.temperature());
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[off + i] * inv);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            float e = (float) Math.exp(logits[off + i] * inv - max);
            probs[i] = e;
            sum += e;
        }
        // candidates sorted by probability, descending, ties to the lower id: key = (~probBits << 32) | id
        int n = 0;
        // min-p: the most likely token has probability 1/sum (its exp is 1 after max subtraction)
        float minKeep = (float) (params.minP() / sum);
        for (int i = 0; i < vocab; i++) {
            float p = (float) (probs[i] / sum);
            probs[i] = p;
            if (p > 0 && p >= minKeep) {
                order[n++] = ((long) (~Float.floatToRawIntBits(p) & 0x7FFFFFFF) << 32) | i;
            }
        }
        if (n == 0) {
            return argmax(logits, off, vocab);
        }
        Arrays.sort(order, 0, n);
        int keep = n;
        if (params.topK() > 0) {
            keep = Math.min(keep, params.topK());
        }
        if (params.topP() < 1) {
            double cum = 0;
            for (int j = 0; j < keep; j++) {
                cum += probs[(int) order[j]];
                if (cum >= params.topP()) {
                    keep = j + 1;
                    break;
                }
            }
        }
        double total = 0;
        for (int j = 0; j < keep; j++) {
            total += probs[(int) order[j]];
        }
        double u = random.nextDouble() * total;
        double acc = 0;
        for (int j = 0; j < keep; j++) {
            acc += probs[(int) order[j]];
            if (u < acc) {
                return (int) order[j];
            }
        }
        return (int) order[keep - 1];
    }

    /** Index of the largest value, ties to the lower index. */
    public static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[off + i] > a[off + best]) {
                best = i;
            }
        }
        return best;
    }
}
