package grok1j.model;

import grok1j.tensor.Kernels;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.util.Arrays;
import java.util.List;

/**
 * The Grok-1 forward pass (spec §3), in float32 as the engine-numerics box at the top of §3 prescribes: no
 * intermediate bf16 roundings; only the embedding multiplier (78.5) and the logit multiplier (0.578125) are the
 * bf16-rounded values the reference multiplies by.
 *
 * <pre>
 * h = E[tokens] * 78.5
 * per layer:  h += RMSNorm_1( Attention( RMSNorm_0(h) ) )        sandwich norms, §3.3
 *             h += RMSNorm_3( MoE( RMSNorm_2(h) ) )
 * logits = RMSNorm_final(h) @ E^T * 0.578125
 * </pre>
 *
 * Prefill (many tokens) and decode (one token) are the same {@link #forward} call. The MoE computes only the
 * top-2 experts of each token and groups a chunk's tokens by expert so that each expert's weights are read once.
 *
 * <p>Not thread-safe: one forward pass at a time per instance (the scratch buffers are shared).
 */
public final class Grok1 {
    private final GrokConfig cfg;
    private final GrokWeights weights;
    private final ThreadPool pool;
    private final float embeddingMultiplier;
    private final float outputMultiplier;
    private final float attnScale;
    private final float softcap;
    private final float eps;
    private final float[] invFreq;

    /** @throws IllegalArgumentException if the weights' shapes disagree with their config */
    public Grok1(GrokWeights weights, ThreadPool pool) {
        this.cfg = weights.config();
        this.weights = weights;
        this.pool = pool;
        this.embeddingMultiplier = cfg.effectiveEmbeddingMultiplier();
        this.outputMultiplier = cfg.effectiveOutputMultiplier();
        this.attnScale = (float) cfg.attnOutputMultiplier();
        this.softcap = (float) cfg.attnSoftcap();
        this.eps = (float) cfg.rmsEps();
        this.invFreq = ropeInverseFrequencies(cfg);
        checkShapes();
    }

    public GrokConfig config() {
        return cfg;
    }

    public GrokWeights weights() {
        return weights;
    }

    /** Which positions of a forward call need logits. */
    public enum Logits { NONE, LAST, ALL }

    /**
     * One sequence's part of a forward call: {@code count} new tokens appended to its own KV cache.
     *
     * @param tokens ids, {@code tokens[offset, offset+count)}; each in {@code [0, vocab)}
     * @param cache  the sequence's KV cache; its length grows by {@code count}
     * @param which  which of these positions need logits
     */
    public record Step(int[] tokens, int offset, int count, KvCache cache, Logits which) {
        public Step {
            if (count <= 0 || offset < 0 || offset + count > tokens.length) {
                throw new IllegalArgumentException("a step needs at least one token, got [" + offset + ", " + (offset + count) + ")");
            }
        }
    }

    /**
     * Runs the model over {@code count} new tokens of one sequence; see {@link #forward(List)}.
     *
     * @return {@code [count, vocab]} for {@link Logits#ALL}, {@code [vocab]} for {@link Logits#LAST}, empty for NONE;
     *         raw logits after the output multiplier
     */
    public float[] forward(int[] tokens, int offset, int count, KvCache cache, Logits which) {
        return forward(List.of(new Step(tokens, offset, count, cache, which))).getFirst();
    }

    /**
     * Runs one forward pass over a batch of sequences, each with its own KV cache: their tokens share every weight
     * read (prefill of one prompt, a decode step of many sequences, or a mix). Results do not depend on what else is
     * in the batch.
     *
     * @return per step, its logits as in {@link #forward(int[], int, int, KvCache, Logits)}
     * @throws IllegalArgumentException for an id outside the vocabulary, or the same cache twice in one batch
     * @throws IllegalStateException    if a cache would exceed the context length (nothing is changed then)
     */
    public List<float[]> forward(List<Step> steps) {
        int rows = 0;
        for (Step st : steps) {
            for (int i = st.offset(); i < st.offset() + st.count(); i++) {
                if (st.tokens()[i] < 0 || st.tokens()[i] >= cfg.vocabSize()) {
                    throw new IllegalArgumentException("token id " + st.tokens()[i] + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
                }
            }
            if ((long) st.cache().length() + st.count() > st.cache().capacity()) {
                throw new IllegalStateException("KV cache full: " + st.cache().length() + " + " + st.count()
                        + " positions exceed the context of " + st.cache().capacity());
            }
            rows += st.count();
        }
        Batch batch = new Batch(rows);
        int r = 0;
        java.util.IdentityHashMap<KvCache, Boolean> seen = new java.util.IdentityHashMap<>();
        for (Step st : steps) {
            if (seen.put(st.cache(), Boolean.TRUE) != null) {
                throw new IllegalArgumentException("the same KV cache appears twice in one batch");
            }
            int start = st.cache().reserve(st.tokens(), st.offset(), st.count());
            for (int t = 0; t < st.count(); t++, r++) {
                batch.cache[r] = st.cache();
                batch.position[r] = start + t;
            }
        }
        int d = cfg.dModel();
        float[] h = new float[rows * d];
        r = 0;
        for (Step st : steps) {
            for (int t = 0; t < st.count(); t++, r++) {
                weights.embedding().lookup(st.tokens()[st.offset() + t], h, r * d);
            }
        }
        for (int i = 0; i < h.length; i++) {
            h[i] *= embeddingMultiplier;
        }
        ropeTable(batch);
        for (int l = 0; l < cfg.layers(); l++) {
            LayerWeights lw = weights.layers().get(l);
            attentionBlock(lw, l, h, batch);
            moeBlock(lw, h, rows);
        }
        List<float[]> out = new java.util.ArrayList<>(steps.size());
        r = 0;
        for (Step st : steps) {
            st.cache().commit(st.count());
            out.add(switch (st.which()) {
                case NONE -> new float[0];
                case LAST -> unembed(h, r + st.count() - 1, 1);
                case ALL -> unembed(h, r, st.count());
            });
            r += st.count();
        }
        return out;
    }

    /** Per row of a forward call: its sequence's cache, its absolute position, and RoPE cos/sin. */
    private static final class Batch {
        final KvCache[] cache;
        final int[] position;
        float[] cos;
        float[] sin;

        Batch(int rows) {
            cache = new KvCache[rows];
            position = new int[rows];
        }

        int rows() {
            return position.length;
        }
    }

    // ---------------------------------------------------------------- attention (spec §3.6, §3.7)

    private void attentionBlock(LayerWeights lw, int layer, float[] h, Batch batch) {
        int count = batch.rows();
        int d = cfg.dModel();
        int hd = cfg.headDim();
        int half = hd / 2;
        int qWidth = cfg.queryHeads() * hd;
        int kvWidth = cfg.kvHeads() * hd;
        float[] x = new float[count * d];
        for (int t = 0; t < count; t++) {
            Kernels.rmsNorm(h, t * d, lw.attnNorm(), eps, x, t * d, d);
        }
        float[] q = new float[count * qWidth];
        float[] k = new float[count * kvWidth];
        float[] v = new float[count * kvWidth];
        Kernels.matmul(pool, lw.query(), x, count, q);
        Kernels.matmul(pool, lw.key(), x, count, k);
        Kernels.matmul(pool, lw.value(), x, count, v);
        for (int t = 0; t < count; t++) {
            for (int head = 0; head < cfg.queryHeads(); head++) {
                applyRope(q, t * qWidth + head * hd, batch.cos, batch.sin, t * half);
            }
            for (int head = 0; head < cfg.kvHeads(); head++) {
                applyRope(k, t * kvWidth + head * hd, batch.cos, batch.sin, t * half);
            }
            // the cache holds post-RoPE keys and raw values
            KvCache c = batch.cache[t];
            System.arraycopy(k, t * kvWidth, c.keys(layer), batch.position[t] * kvWidth, kvWidth);
            System.arraycopy(v, t * kvWidth, c.values(layer), batch.position[t] * kvWidth, kvWidth);
        }

        float[] o = new float[count * qWidth];
        int heads = cfg.queryHeads();
        pool.run((part, parts) -> {
            float[] scores = null;
            for (int job = part; job < count * heads; job += parts) {
                int t = job / heads;
                int head = job % heads;
                int pos = batch.position[t];
                if (scores == null || scores.length < pos + 1) {
                    scores = new float[pos + 1];
                }
                attendOneHead(q, t * qWidth + head * hd, batch.cache[t], layer, head / cfg.groupSize(), pos, scores, o,
                        t * qWidth + head * hd);
            }
        });
        float[] out = new float[count * d];
        Kernels.matmul(pool, lw.attnOutput(), o, count, out);
        addNormed(h, out, lw.postAttnNorm(), count);
    }

    /**
     * One query head at absolute position {@code pos} over cached keys {@code [0, pos]}: float32 logits scaled by
     * the attention multiplier, soft-capped {@code c*tanh(x/c)}, keys holding the padding id masked out,
     * softmax, weighted sum of values (spec §3.6 steps 5-8).
     */
    private void attendOneHead(float[] q, int qOff, KvCache cache, int layer, int kvHead, int pos, float[] scores,
                               float[] out, int outOff) {
        int hd = cfg.headDim();
        int width = cache.rowWidth();
        float[] keys = cache.keys(layer);
        float[] values = cache.values(layer);
        int kvOff = kvHead * hd;
        float max = Float.NEGATIVE_INFINITY;
        for (int s = 0; s <= pos; s++) {
            if (cache.token(s) == cfg.padId()) {
                scores[s] = Float.NEGATIVE_INFINITY;
                continue;
            }
            int kOff = s * width + kvOff;
            float dot = 0;
            for (int i = 0; i < hd; i++) {
                dot += q[qOff + i] * keys[kOff + i];
            }
            float l = dot * attnScale;
            l = softcap * (float) Math.tanh(l / softcap);
            scores[s] = l;
            max = Math.max(max, l);
        }
        Arrays.fill(out, outOff, outOff + hd, 0f);
        if (max == Float.NEGATIVE_INFINITY) {
            return; // every key is padding: the reference would attend uniformly to garbage; we output zeros
        }
        double sum = 0;
        for (int s = 0; s <= pos; s++) {
            float e = scores[s] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(scores[s] - max);
            scores[s] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int s = 0; s <= pos; s++) {
            float p = scores[s] * inv;
            if (p == 0f) {
                continue;
            }
            int vOff = s * width + kvOff;
            for (int i = 0; i < hd; i++) {
                out[outOff + i] += p * values[vOff + i];
            }
        }
    }

    /** inv_freq[i] = 1 / base^(2i/headDim), computed in float32 as model.py does (spec §3.7). */
    private static float[] ropeInverseFrequencies(GrokConfig cfg) {
        int half = cfg.headDim() / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) cfg.headDim();
            float p = (float) Math.pow(cfg.ropeTheta(), exponent);
            inv[i] = 1.0f / p;
        }
        return inv;
    }

    /** cos and sin of θ[r,i] = pos_r * inv_freq[i] for every row's absolute position. */
    private void ropeTable(Batch batch) {
        int half = invFreq.length;
        int rows = batch.rows();
        batch.cos = new float[rows * half];
        batch.sin = new float[rows * half];
        for (int t = 0; t < rows; t++) {
            float pos = batch.position[t];
            for (int i = 0; i < half; i++) {
                float theta = pos * invFreq[i];
                batch.cos[t * half + i] = (float) Math.cos(theta);
                batch.sin[t * half + i] = (float) Math.sin(theta);
            }
        }
    }

    /** Rotate-half RoPE on one head: pairs (i, i + headDim/2), not adjacent pairs (spec §3.7). */
    private void applyRope(float[] x, int off, float[] cos, float[] sin, int tableOff) {
        int half = invFreq.length;
        for (int i = 0; i < half; i++) {
            float c = cos[tableOff + i];
            float s = sin[tableOff + i];
            float a = x[off + i];
            float b = x[off + half + i];
            x[off + i] = a * c - b * s;
            x[off + half + i] = b * c + a * s;
        }
    }

    // ---------------------------------------------------------------- MoE (spec §3.8)

    private void moeBlock(LayerWeights lw, float[] h, int count) {
        int d = cfg.dModel();
        int experts = cfg.experts();
        int topK = cfg.expertsPerToken();
        float[] x = new float[count * d];
        for (int t = 0; t < count; t++) {
            Kernels.rmsNorm(h, t * d, lw.preMoeNorm(), eps, x, t * d, d);
        }
        // router: float32 logits over all experts, softmax, top-k without renormalisation, ties to the lower index
        float[] probs = new float[count * experts];
        Kernels.matmul(pool, lw.router(), x, count, probs);
        int[] chosen = new int[count * topK];
        float[] gates = new float[count * topK];
        for (int t = 0; t < count; t++) {
            Kernels.softmax(probs, t * experts, experts);
            selectTopK(probs, t * experts, experts, topK, chosen, gates, t * topK);
        }
        float[] moe = new float[count * d];
        // group the chunk's tokens by expert so each expert's weights stream through once
        int[] members = new int[count];
        for (int e = 0; e < experts; e++) {
            int n = 0;
            for (int j = 0; j < count * topK; j++) {
                if (chosen[j] == e) {
                    members[n++] = j;
                }
            }
            if (n > 0) {
                runExpert(lw, e, x, members, n, gates, moe);
            }
        }
        addNormed(h, moe, lw.postMoeNorm(), count);
    }

    /** out[token] += gate * down( gelu(x @ gate_e) * (x @ up_e) ) for the {@code n} routed (token, slot) pairs. */
    private void runExpert(LayerWeights lw, int e, float[] x, int[] members, int n, float[] gates, float[] out) {
        int d = cfg.dModel();
        int ffn = cfg.expertFfn();
        int topK = cfg.expertsPerToken();
        float[] xe = new float[n * d];
        for (int i = 0; i < n; i++) {
            System.arraycopy(x, (members[i] / topK) * d, xe, i * d, d);
        }
        float[] gate = new float[n * ffn];
        float[] up = new float[n * ffn];
        Kernels.matmul(pool, lw.gate()[e], xe, n, gate);
        Kernels.matmul(pool, lw.up()[e], xe, n, up);
        for (int i = 0; i < gate.length; i++) {
            gate[i] = Kernels.gelu(gate[i]) * up[i];
        }
        float[] y = new float[n * d];
        Kernels.matmul(pool, lw.down()[e], gate, n, y);
        for (int i = 0; i < n; i++) {
            int t = members[i] / topK;
            float g = gates[members[i]];
            for (int c = 0; c < d; c++) {
                out[t * d + c] += g * y[i * d + c];
            }
        }
    }

    /** Indices of the {@code k} largest of {@code p[off, off+n)}, descending; equal values keep the lower index first. */
    static void selectTopK(float[] p, int off, int n, int k, int[] idx, float[] val, int outOff) {
        long taken = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < n; e++) {
                if ((taken & (1L << e)) == 0 && (best < 0 || p[off + e] > p[off + best])) {
                    best = e;
                }
            }
            taken |= 1L << best;
            idx[outOff + j] = best;
            val[outOff + j] = p[off + best];
        }
    }

    /** h += RMSNorm(branch) per token: the post-norm sits on the branch, before the residual add (spec §3.3). */
    private void addNormed(float[] h, float[] branch, float[] scale, int count) {
        int d = cfg.dModel();
        for (int t = 0; t < count; t++) {
            Kernels.rmsNorm(branch, t * d, scale, eps, branch, t * d, d);
            for (int c = 0; c < d; c++) {
                h[t * d + c] += branch[t * d + c];
            }
        }
    }

    // ---------------------------------------------------------------- output (spec §3.2)

    private float[] unembed(float[] h, int first, int rows) {
        int d = cfg.dModel();
        float[] x = new float[rows * d];
        for (int r = 0; r < rows; r++) {
            Kernels.rmsNorm(h, (first + r) * d, weights.finalNorm(), eps, x, r * d, d);
        }
        float[] logits = new float[rows * cfg.vocabSize()];
        Kernels.matmul(pool, weights.embedding().unembedding(), x, rows, logits);
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= outputMultiplier;
        }
        return logits;
    }

    private void checkShapes() {
        int d = cfg.dModel();
        int q = cfg.queryHeads() * cfg.headDim();
        int kv = cfg.kvHeads() * cfg.headDim();
        if (weights.layers().size() != cfg.layers()) {
            throw new IllegalArgumentException("weights have " + weights.layers().size() + " layers, config says " + cfg.layers());
        }
        check("unembedding", weights.embedding().unembedding(), d, cfg.vocabSize());
        for (int l = 0; l < cfg.layers(); l++) {
            LayerWeights lw = weights.layers().get(l);
            String p = "layer " + l + " ";
            check(p + "query", lw.query(), d, q);
            check(p + "key", lw.key(), d, kv);
            check(p + "value", lw.value(), d, kv);
            check(p + "attention output", lw.attnOutput(), q, d);
            check(p + "router", lw.router(), d, cfg.experts());
            for (int e = 0; e < cfg.experts(); e++) {
                check(p + "expert " + e + " gate", lw.gate()[e], d, cfg.expertFfn());
                check(p + "expert " + e + " up", lw.up()[e], d, cfg.expertFfn());
                check(p + "expert " + e + " down", lw.down()[e], cfg.expertFfn(), d);
            }
        }
    }

    private static void check(String what, WeightMatrix w, int in, int out) {
        if (w.inputDim() != in || w.outputDim() != out) {
            throw new IllegalArgumentException(what + " is [" + w.inputDim() + ", " + w.outputDim() + "], expected [" + in + ", " + out + "]");
        }
    }
}
