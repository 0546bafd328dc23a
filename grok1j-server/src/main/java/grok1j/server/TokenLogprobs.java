package grok1j.server;

/**
 * Log-probabilities of one generated token under the model's raw distribution (log-softmax of the logits before
 * temperature, top-k/top-p or min-p), as the OpenAI API reports them. Every value is {@code <= 0}.
 *
 * @param id          the chosen token
 * @param logprob     its log-probability
 * @param topIds      the most likely tokens, most likely first (ties to the lower id)
 * @param topLogprobs their log-probabilities, non-increasing
 */
public record TokenLogprobs(int id, float logprob, int[] topIds, float[] topLogprobs) {

    /**
     * @param logits {@code [vocab]} raw logits
     * @param chosen the sampled id
     * @param k      how many of the most likely tokens to list (0 for none)
     */
    public static TokenLogprobs of(float[] logits, int chosen, int k) {
        return of(logits, 0, logits.length, chosen, k);
    }

    /** As {@link #of(float[], int, int)} over {@code logits[off, off+vocab)}. */
    public static TokenLogprobs of(float[] logits, int off, int vocab, int chosen, int k) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp((double) logits[off + i] - max);
        }
        // lse >= max because sum >= 1, so every logit - lse is <= 0
        double lse = max + Math.log(sum);
        k = Math.min(k, vocab);
        int[] ids = new int[k];
        float[] vals = new float[k];
        int n = 0;
        for (int i = 0; i < vocab && k > 0; i++) {
            float l = logits[off + i];
            if (n == k && !(l > vals[k - 1])) {
                continue; // not better than the current k-th (ties keep the lower id)
            }
            int at = n == k ? k - 1 : n++;
            while (at > 0 && l > vals[at - 1]) {
                vals[at] = vals[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }
            vals[at] = l;
            ids[at] = i;
        }
        float[] lps = new float[k];
        for (int j = 0; j < k; j++) {
            lps[j] = logprob(vals[j], lse);
        }
        return new TokenLogprobs(chosen, logprob(logits[off + chosen], lse), ids, lps);
    }

    private static float logprob(float logit, double lse) {
        return (float) Math.min(0.0, logit - lse);
    }
}
