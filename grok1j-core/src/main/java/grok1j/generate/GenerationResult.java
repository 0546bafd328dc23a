package grok1j.generate;

/**
 * The outcome of one generation.
 *
 * @param promptIds         the prompt's token ids
 * @param ids               generated ids (an EOS that ended generation is included; tokens after a stop string are not)
 * @param text              what the continuation adds to the prompt: decode(prompt + ids) minus decode(prompt),
 *                          cut before a stop string; it keeps its leading space
 * @param finishReason      stop (EOS or stop string) or length
 * @param promptTokensReused prompt positions whose KV cache was reused from the previous call
 * @param timeToFirstTokenNanos prefill plus the first sampling step
 * @param totalNanos        wall time of the whole call
 */
public record GenerationResult(int[] promptIds, int[] ids, String text, FinishReason finishReason,
                               int promptTokensReused, long timeToFirstTokenNanos, long totalNanos) {

    /** Generated tokens per second after the first token (decode speed); NaN with fewer than two tokens. */
    public double decodeTokensPerSecond() {
        if (ids.length < 2) {
            return Double.NaN;
        }
        return (ids.length - 1) / ((totalNanos - timeToFirstTokenNanos) / 1e9);
    }
}
