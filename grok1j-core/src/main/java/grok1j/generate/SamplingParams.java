package grok1j.generate;

import java.util.List;

/**
 * How to pick tokens and when to stop.
 *
 * @param temperature 0 for greedy (argmax, ties to the lower id); otherwise logits are divided by it
 * @param topK        keep only the K most likely tokens; 0 or -1 disables (-1 as in llama.cpp and vLLM)
 * @param topP        nucleus: keep the smallest set of most likely tokens whose probability reaches P; 1 disables,
 *                    0 keeps only the most likely token, i.e. greedy (llama.cpp's meaning)
 * @param minP        drop tokens whose probability is below minP times the most likely token's; 0 disables
 * @param seed        seed of the sampler's random stream; null picks one at random
 * @param maxTokens   maximum new tokens (the prompt plus this must fit the context)
 * @param stop        stop strings: generation ends before the first occurrence of any, which is not part of the text
 * @param ignoreEos   keep generating after the end-of-sequence token (not under a constraint, whose document ends)
 * @param processing  logit bias, penalties and constraint applied before sampling; null means {@link LogitsProcessing#NONE}
 * @param stopTokens  ids that end generation when sampled, besides EOS (Grok-2 chat: {@code <|separator|>}, grok-2
 *                    spec §5); like EOS they are not part of the text, and {@code ignoreEos} does not affect them
 */
public record SamplingParams(double temperature, int topK, double topP, double minP, Long seed, int maxTokens,
                             List<String> stop, boolean ignoreEos, LogitsProcessing processing, List<Integer> stopTokens) {

    /** Default new-token limit when none is given. */
    public static final int DEFAULT_MAX_TOKENS = 256;

    /** @throws IllegalArgumentException naming the parameter that is out of range */
    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < -1) {
            throw new IllegalArgumentException("top-k must be >= 0 (or -1: no limit), got " + topK);
        }
        if (!(topP >= 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in [0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        }
        if (maxTokens < 0) {
            throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        }
        stop = stop == null ? List.of() : List.copyOf(stop);
        processing = processing == null ? LogitsProcessing.NONE : processing;
        stopTokens = stopTokens == null ? List.of() : List.copyOf(stopTokens);
        for (int id : stopTokens) {
            if (id < 0) {
                throw new IllegalArgumentException("stop token ids must be >= 0, got " + id);
            }
        }
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    /** Sampling without extra stop tokens. */
    public SamplingParams(double temperature, int topK, double topP, double minP, Long seed, int maxTokens,
                          List<String> stop, boolean ignoreEos, LogitsProcessing processing) {
        this(temperature, topK, topP, minP, seed, maxTokens, stop, ignoreEos, processing, List.of());
    }

    /** Sampling without logit processing. */
    public SamplingParams(double temperature, int topK, double topP, double minP, Long seed, int maxTokens,
                          List<String> stop, boolean ignoreEos) {
        this(temperature, topK, topP, minP, seed, maxTokens, stop, ignoreEos, LogitsProcessing.NONE);
    }

    /** Greedy decoding of up to {@code maxTokens} tokens, stopping at EOS. */
    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0, 0, 1, 0, null, maxTokens, List.of(), false);
    }

    public SamplingParams withMaxTokens(int n) {
        return new SamplingParams(temperature, topK, topP, minP, seed, n, stop, ignoreEos, processing, stopTokens);
    }

    public SamplingParams withSeed(Long s) {
        return new SamplingParams(temperature, topK, topP, minP, s, maxTokens, stop, ignoreEos, processing, stopTokens);
    }

    public SamplingParams withProcessing(LogitsProcessing p) {
        return new SamplingParams(temperature, topK, topP, minP, seed, maxTokens, stop, ignoreEos, p, stopTokens);
    }

    /** These params, also ending at any of {@code ids} (see {@code stopTokens}). */
    public SamplingParams withStopTokens(List<Integer> ids) {
        return new SamplingParams(temperature, topK, topP, minP, seed, maxTokens, stop, ignoreEos, processing, ids);
    }
}
