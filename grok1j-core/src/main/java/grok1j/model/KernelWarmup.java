package grok1j.model;

import grok1j.tensor.AttentionKernels;
import grok1j.tensor.ErfGelu;
import grok1j.tensor.TanhGelu;
import grok1j.tensor.ThreadPool;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Runs a model's kernels before the first request so they are compiled (C2) when it arrives: the JIT compiles a
 * loop only after it has run hot for a while, and a Vector API kernel runs 10-100x slower before that (kernels.md
 * §4.3), which would otherwise land on the first user's time to first token. llama.cpp does the same with an empty
 * run at load.
 *
 * <p>It uses the real weights of the <em>first layer only</em> (plus the embedding and unembedding), so it runs
 * every kernel the model uses (attention projections, the expert GEMM and matvec, the unembedding) while reading a
 * 64th of Grok-1's weights per round. Rounds are a short prefill (the prefill path), decode steps (the decode
 * path) and one decode step of a batch of sequences (the multi-token path), each with fresh KV caches; nothing of
 * the model's state changes.
 */
public final class KernelWarmup {
    /** Prompt length of a round: enough tokens that some expert takes the multi-token GEMM. */
    static final int PREFILL_TOKENS = 48;
    /** Decode steps after the prompt in each round. */
    static final int DECODE_STEPS = 4;
    /** Sequences in the batched decode step of each round. */
    static final int BATCH = 4;
    /** Rounds after which the kernels have long been compiled on small models; the budget ends large ones earlier. */
    static final int MAX_ROUNDS = 30;

    private KernelWarmup() {
    }

    /**
     * Runs warm-up rounds on {@code weights} until {@code budget} has passed (checked after each round, so at least
     * one round runs and the last may overrun) or {@link #MAX_ROUNDS} rounds are done.
     *
     * @return the number of rounds run
     * @throws IllegalArgumentException if {@code budget} is negative
     */
    public static int run(GrokWeights weights, ThreadPool pool, Duration budget) {
        return run(new Transformer(weights, pool), budget);
    }

    /**
     * As {@link #run(GrokWeights, ThreadPool, Duration)} on {@code model}'s first layer as this rank holds it: in a
     * tensor-parallel job every rank warms its own slices up, without collectives.
     */
    public static int run(Transformer model, Duration budget) {
        return run(model, budget, MAX_ROUNDS);
    }

    /**
     * As {@link #run(Transformer, Duration)}, for at most {@code maxRounds} rounds ({@code grok1j bench --model}).
     *
     * @throws IllegalArgumentException if {@code budget} is negative or {@code maxRounds} is below 1
     */
    public static int run(Transformer model, Duration budget, int maxRounds) {
        if (budget.isNegative()) {
            throw new IllegalArgumentException("warm-up budget must not be negative, got " + budget);
        }
        if (maxRounds < 1) {
            throw new IllegalArgumentException("warm-up rounds must be at least 1, got " + maxRounds);
        }
        Transformer firstLayer = model.localLayers(1);
        GrokConfig cfg = firstLayer.config();
        int prompt = Math.min(PREFILL_TOKENS, cfg.contextLength() - DECODE_STEPS);
        SplittableRandom rnd = new SplittableRandom(7);
        long end = System.nanoTime() + budget.toNanos();
        int rounds = 0;
        do {
            KvCache cache = firstLayer.newCache();
            if (prompt > 0) {
                firstLayer.forward(randomTokens(rnd, cfg, prompt), 0, prompt, cache, Transformer.Logits.LAST);
            }
            int[] one = new int[1];
            for (int i = 0; i < DECODE_STEPS && cache.length() < cfg.contextLength(); i++) {
                one[0] = randomToken(rnd, cfg);
                firstLayer.forward(one, 0, 1, cache, Transformer.Logits.LAST);
            }
            // a batched decode step, as the server runs for concurrent requests (the multi-token matvec)
            List<Transformer.Step> batch = new java.util.ArrayList<>();
            for (int i = 0; i < BATCH; i++) {
                batch.add(new Transformer.Step(randomTokens(rnd, cfg, 1), 0, 1, firstLayer.newCache(), Transformer.Logits.LAST));
            }
            firstLayer.forward(batch);
            rounds++;
        } while (rounds < maxRounds && System.nanoTime() < end);
        AttentionKernels.warmUp(); // called too rarely above for C2 to compile them
        TanhGelu.warmUp();
        ErfGelu.warmUp(); // Grok-2's GELU
        return rounds;
    }

    private static int[] randomTokens(SplittableRandom rnd, GrokConfig cfg, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = randomToken(rnd, cfg);
        }
        return t;
    }

    /** Any id but padding (which the model masks out). */
    private static int randomToken(SplittableRandom rnd, GrokConfig cfg) {
        int id;
        do {
            id = rnd.nextInt(cfg.vocabSize());
        } while (id == cfg.padId() && cfg.vocabSize() > 1);
        return id;
    }
}
