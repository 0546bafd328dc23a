package grok1j.generate;

import grok1j.model.Transformer;
import grok1j.model.KvCache;
import grok1j.tokenizer.Tokenizer;

/**
 * One generation in progress, as a state machine a scheduler can drive: ask for the {@link #nextStep()}, run it
 * (alone or batched with other sequences' steps through {@link Transformer#forward(java.util.List)}), hand the logits to
 * {@link #accept}. Prefill runs in chunks of {@link #PREFILL_CHUNK} positions; then one token per step.
 *
 * <p>The KV cache's positions shared with the prompt (a previous conversation turn) are reused.
 * Not thread-safe.
 */
public final class Sequence {
    /** Prompt positions per forward step during prefill: bounds activation memory for long prompts. */
    public static final int PREFILL_CHUNK = 256;

    private final Transformer model;
    private final KvCache cache;
    private final int[] promptIds;
    private final SamplingParams params;
    private final int eosId;
    private final Sampler sampler;
    private final LogitsProcessor processor;
    private final TextAssembler text;
    private final int reused;
    private final long startNanos = System.nanoTime();
    private long firstTokenNanos;
    private int prefilled;
    private int generated;
    private int lastToken = -1;
    private FinishReason finish;
    private final int[] one = new int[1];
    private long processingNanos;

    /**
     * @throws IllegalArgumentException if the prompt is empty or prompt plus max tokens exceed the context (the
     *                                  message names both numbers)
     */
    public Sequence(Transformer model, Tokenizer tokenizer, KvCache cache, int[] promptIds, SamplingParams params) {
        checkFits(promptIds.length, params.maxTokens(), model.config().contextLength());
        this.model = model;
        this.cache = cache;
        this.promptIds = promptIds.clone();
        this.params = params;
        this.eosId = model.config().eosId();
        this.sampler = new Sampler(params);
        this.processor = params.processing().active()
                ? new LogitsProcessor(params.processing(), this.promptIds, model.config().vocabSize()) : null;
        this.text = new TextAssembler(tokenizer, this.promptIds, params.stop());
        this.reused = reusePrefix();
        this.prefilled = reused;
        if (params.maxTokens() == 0) {
            finish = FinishReason.LENGTH;
        }
    }

    /** Refuses an empty prompt or one that, with {@code maxTokens}, does not fit {@code context}. */
    public static void checkFits(int promptTokens, int maxTokens, int context) {
        if (promptTokens == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if ((long) promptTokens + maxTokens > context) {
            throw new IllegalArgumentException("the prompt has " + promptTokens + " tokens and up to " + maxTokens
                    + " new tokens were asked for: " + ((long) promptTokens + maxTokens)
                    + " exceed the context length of " + context + " tokens");
        }
    }

    /** True when generation has ended (see {@link #finishReason()}). */
    public boolean finished() {
        return finish != null;
    }

    public FinishReason finishReason() {
        return finish;
    }

    /** Prompt positions whose cached keys/values were reused. */
    public int reusedPromptTokens() {
        return reused;
    }

    /** True while the prompt has not been fully run. */
    public boolean inPrefill() {
        return prefilled < promptIds.length;
    }

    /** The next forward step of this sequence. @throws IllegalStateException once finished */
    public Transformer.Step nextStep() {
        if (finish != null) {
            throw new IllegalStateException("the sequence has finished");
        }
        if (prefilled < promptIds.length) {
            int n = Math.min(PREFILL_CHUNK, promptIds.length - prefilled);
            boolean last = prefilled + n == promptIds.length;
            return new Transformer.Step(promptIds, prefilled, n, cache, last ? Transformer.Logits.LAST : Transformer.Logits.NONE, true);
        }
        one[0] = lastToken;
        return new Transformer.Step(one, 0, 1, cache, Transformer.Logits.LAST, false);
    }

    /**
     * Takes the logits of the step last returned by {@link #nextStep()} (after it ran) and samples.
     *
     * @return the sampled token and the text now safe to show, or null after a prefill chunk that needs no logits
     * @throws grok1j.model.NonFiniteException if the logits hold NaN or an infinity (naming where the activations
     *         went non-finite, see {@link Transformer#requireFinite}); the sequence cannot continue
     */
    public Token accept(float[] logits) {
        if (prefilled < promptIds.length) {
            prefilled = Math.min(promptIds.length, prefilled + PREFILL_CHUNK);
            if (prefilled < promptIds.length) {
                return null;
            }
        }
        model.requireFinite(logits, cache, Transformer.Logits.LAST);
        int id;
        if (processor != null) {
            long t0 = System.nanoTime();
            float[] adjusted = processor.apply(logits, params.maxTokens() - generated);
            processingNanos += System.nanoTime() - t0;
            id = sampler.sample(adjusted);
            t0 = System.nanoTime();
            processor.accept(id);
            processingNanos += System.nanoTime() - t0;
        } else {
            id = sampler.sample(logits);
        }
        if (generated == 0) {
            firstTokenNanos = System.nanoTime() - startNanos;
        }
        generated++;
        lastToken = id;
        boolean constrained = processor != null && processor.constrained();
        // an ending token is not text: Grok-2's <|eos|> and <|separator|> would otherwise decode to their names
        boolean endToken = (id == eosId && (constrained || !params.ignoreEos())) || params.stopTokens().contains(id);
        String delta = endToken ? text.addSilent(id) : text.add(id);
        if (text.stopped()) {
            finish = FinishReason.STOP;
        } else if (constrained && (id == eosId || processor.finished()
                || (generated >= params.maxTokens() && processor.complete()))) {
            finish = FinishReason.STOP; // the document is complete (a top-level number may end at the token limit)
        } else if (endToken) {
            finish = FinishReason.STOP;
        } else if (generated >= params.maxTokens()) {
            finish = FinishReason.LENGTH;
        }
        if (finish != null) {
            delta += text.remainder();
        }
        return new Token(id, delta);
    }

    /** The outcome; valid once {@link #finished()}. */
    public GenerationResult result() {
        return new GenerationResult(promptIds.clone(), text.ids(), text.finalText(), finish, reused, firstTokenNanos,
                System.nanoTime() - startNanos);
    }

    /** Time spent adjusting logits (bias, penalties, constraint masks and matching), in nanoseconds. */
    public long processingNanos() {
        return processingNanos;
    }

    /** Ends the sequence early (e.g. the client went away); counts as {@link FinishReason#STOP}. */
    public void cancel() {
        if (finish == null) {
            finish = FinishReason.STOP;
        }
    }

    /** A sampled token and the newly safe text (possibly empty). */
    public record Token(int id, String textDelta) {
    }

    /** Keeps the cached prefix shared with the prompt (at most all but the last prompt token, which must produce logits). */
    private int reusePrefix() {
        int common = 0;
        int limit = Math.min(cache.length(), promptIds.length - 1);
        while (common < limit && cache.token(common) == promptIds[common]) {
            common++;
        }
        cache.truncate(common);
        return common;
    }
}
