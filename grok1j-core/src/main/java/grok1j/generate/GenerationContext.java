package grok1j.generate;

import grok1j.model.Grok1;
import grok1j.model.KvCache;
import grok1j.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * One sequence's state: its own KV cache, over a shared model. Successive {@link #generate} calls reuse the cached
 * positions of the longest common prefix of the new prompt and the previous sequence (as llama.cpp does), so a
 * conversation does not re-run its history.
 *
 * <p>Not thread-safe: one call at a time per context. Several contexts may share one model.
 */
public final class GenerationContext {
    /** Prompt positions per forward call during prefill: bounds activation memory for long prompts. */
    static final int PREFILL_CHUNK = 256;

    private final Grok1 model;
    private final Tokenizer tokenizer;
    private final KvCache cache;

    public GenerationContext(Grok1 model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.cache = new KvCache(model.config());
    }

    public KvCache cache() {
        return cache;
    }

    /** Encodes {@code prompt} (no BOS, as the reference runner) and generates; see {@link #generate(int[], SamplingParams, TokenListener)}. */
    public GenerationResult generate(String prompt, SamplingParams params, TokenListener listener) {
        if (prompt == null || prompt.isEmpty()) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        return generate(tokenizer.encode(prompt), params, listener);
    }

    /**
     * Runs the prompt through the model, then samples up to {@code params.maxTokens()} tokens, calling
     * {@code listener} after each.
     *
     * @throws IllegalArgumentException if the prompt is empty, or prompt plus max tokens exceed the context length
     *                                  (the message names both numbers; nothing is truncated)
     */
    public GenerationResult generate(int[] promptIds, SamplingParams params, TokenListener listener) {
        long t0 = System.nanoTime();
        checkFits(promptIds.length, params.maxTokens(), model.config().contextLength());
        Sampler sampler = new Sampler(params);
        TextAssembler text = new TextAssembler(tokenizer, promptIds, params.stop());
        int reused = prefill(promptIds);
        float[] logits = forwardRest(promptIds, reused);
        long ttft = 0;
        FinishReason reason = FinishReason.LENGTH;
        int[] one = new int[1];
        for (int step = 0; step < params.maxTokens(); step++) {
            int id = sampler.sample(logits);
            if (step == 0) {
                ttft = System.nanoTime() - t0;
            }
            boolean eos = id == model.config().eosId() && !params.ignoreEos();
            String delta = text.add(id);
            if (text.stopped()) {
                listener.onToken(id, delta);
                reason = FinishReason.STOP;
                break;
            }
            if (eos) {
                listener.onToken(id, delta + text.remainder());
                reason = FinishReason.STOP;
                break;
            }
            listener.onToken(id, delta);
            if (step + 1 == params.maxTokens()) {
                break;
            }
            one[0] = id;
            logits = model.forward(one, 0, 1, cache, Grok1.Logits.LAST);
        }
        String rest = text.remainder();
        if (!rest.isEmpty()) {
            listener.onToken(-1, rest);
        }
        int[] ids = text.ids();
        if (text.stopped()) {
            // tokens after the one that completed the stop string were never generated; keep ids as produced
            ids = Arrays.copyOf(ids, ids.length);
        }
        return new GenerationResult(promptIds, ids, text.finalText(), reason, reused, ttft, System.nanoTime() - t0);
    }

    /**
     * Logits at every prompt position ({@code [n, vocab]}), for scoring. Starts from an empty cache.
     *
     * @throws IllegalArgumentException if the ids are empty or exceed the context length
     */
    public float[] score(int[] ids) {
        if (ids.length == 0) {
            throw new IllegalArgumentException("nothing to score: the prompt is empty");
        }
        checkFits(ids.length, 0, model.config().contextLength());
        cache.clear();
        int vocab = model.config().vocabSize();
        float[] all = new float[ids.length * vocab];
        for (int at = 0; at < ids.length; at += PREFILL_CHUNK) {
            int n = Math.min(PREFILL_CHUNK, ids.length - at);
            float[] part = model.forward(ids, at, n, cache, Grok1.Logits.ALL);
            System.arraycopy(part, 0, all, at * vocab, part.length);
        }
        return all;
    }

    static void checkFits(int promptTokens, int maxTokens, int context) {
        if (promptTokens == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if ((long) promptTokens + maxTokens > context) {
            throw new IllegalArgumentException("the prompt has " + promptTokens + " tokens and up to " + maxTokens
                    + " new tokens were asked for: " + ((long) promptTokens + maxTokens)
                    + " exceed the context length of " + context + " tokens");
        }
    }

    /** Keeps the cached prefix shared with {@code promptIds} (at most all but the last prompt token). */
    private int prefill(int[] promptIds) {
        int common = 0;
        int limit = Math.min(cache.length(), promptIds.length - 1);
        while (common < limit && cache.token(common) == promptIds[common]) {
            common++;
        }
        cache.truncate(common);
        return common;
    }

    /** Runs prompt positions {@code [from, n)} in chunks; returns the last position's logits. */
    private float[] forwardRest(int[] promptIds, int from) {
        float[] logits = null;
        for (int at = from; at < promptIds.length; at += PREFILL_CHUNK) {
            int n = Math.min(PREFILL_CHUNK, promptIds.length - at);
            boolean last = at + n == promptIds.length;
            logits = model.forward(promptIds, at, n, cache, last ? Grok1.Logits.LAST : Grok1.Logits.NONE);
        }
        return logits;
    }
}
