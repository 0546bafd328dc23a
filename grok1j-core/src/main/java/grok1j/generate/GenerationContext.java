package grok1j.generate;

import grok1j.model.Transformer;
import grok1j.model.KvCache;
import grok1j.tokenizer.Tokenizer;

/**
 * One sequence's state for the simple blocking API: its own KV cache, over a shared model. Successive
 * {@link #generate} calls reuse the cached positions of the longest common prefix of the new prompt and the
 * previous sequence (as llama.cpp does), so a conversation does not re-run its history. For batching many
 * sequences, drive {@link Sequence}s directly.
 *
 * <p>Not thread-safe: one call at a time per context. Several contexts may share one model.
 */
public final class GenerationContext {
    private final Transformer model;
    private final Tokenizer tokenizer;
    private final KvCache cache;
    private long lastProcessingNanos;

    public GenerationContext(Transformer model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.cache = model.newCache();
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
     * {@code listener} after each with the text that became safe to show.
     *
     * @throws IllegalArgumentException if the prompt is empty, or prompt plus max tokens exceed the context length
     *                                  (the message names both numbers; nothing is truncated)
     * @throws grok1j.model.NonFiniteException if a step's logits hold NaN or an infinity (the message names the
     *                                  layer and tensor where the activations first went non-finite)
     */
    public GenerationResult generate(int[] promptIds, SamplingParams params, TokenListener listener) {
        Sequence seq = new Sequence(model, tokenizer, cache, promptIds, params);
        while (!seq.finished()) {
            Transformer.Step step = seq.nextStep();
            float[] logits = model.forward(java.util.List.of(step)).getFirst();
            Sequence.Token token = seq.accept(logits);
            if (token != null) {
                listener.onToken(token.id(), token.textDelta());
            }
        }
        lastProcessingNanos = seq.processingNanos();
        return seq.result();
    }

    /** Time the last {@link #generate} spent adjusting logits (bias, penalties, constraint masks), in nanoseconds. */
    public long lastProcessingNanos() {
        return lastProcessingNanos;
    }

    /**
     * Logits at every prompt position ({@code [n, vocab]}), for scoring. Starts from an empty cache.
     *
     * @throws IllegalArgumentException if the ids are empty or exceed the context length
     * @throws grok1j.model.NonFiniteException if a position's logits hold NaN or an infinity (as for generate)
     */
    public float[] score(int[] ids) {
        Sequence.checkFits(ids.length, 0, model.config().contextLength());
        cache.clear();
        int vocab = model.config().vocabSize();
        float[] all = new float[ids.length * vocab];
        for (int at = 0; at < ids.length; at += Sequence.PREFILL_CHUNK) {
            int n = Math.min(Sequence.PREFILL_CHUNK, ids.length - at);
            float[] part = model.forward(ids, at, n, cache, Transformer.Logits.ALL);
            model.requireFinite(part, cache, Transformer.Logits.ALL);
            System.arraycopy(part, 0, all, at * vocab, part.length);
        }
        return all;
    }
}
