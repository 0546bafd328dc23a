package grok1j.model;

import grok1j.tensor.WeightMatrix;
import java.util.ArrayList;
import java.util.List;

/**
 * The part of the model one rank of a tensor-parallel job computes (spec distributed.md §2): rank {@code r} of
 * {@code N} owns
 * <ul>
 * <li>KV heads {@code [r*K/N, (r+1)*K/N)} with their query heads (columns of Q, K and V), its slice of every KV cache
 *     and the matching input rows of the attention output projection (§2.1);</li>
 * <li>for every expert, FFN columns {@code [r*F/N, (r+1)*F/N)} of gate and up and the same input rows of down (§2.2);
 *     {@code F} need not divide evenly, and a cut may fall inside a scale group (each row keeps its group's scale).
 *     Grok-2's experts come as 8 rank slices (grok-2 spec §3.2): with N = 8 rank r's columns are exactly the slices
 *     in the files {@code -TP-00r}, the only expert bytes it reads; other N cut views across the slices;</li>
 * <li>the residual dense MLP (Grok-2) like one more expert: its columns {@code [r*G/N, (r+1)*G/N)} of gate and up
 *     and the same input rows of down, {@code G} its width;</li>
 * <li>vocabulary rows {@code [r*P, min(V, (r+1)*P))} of the unembedding (tied or untied), {@code P = ceil(V/N)}
 *     (§2.3).</li>
 * </ul>
 * The embedding lookup, the router and the norms are replicated. The attention output and the expert down
 * projections then give partial sums of the residual update, added across ranks by one all-reduce each.
 *
 * @param rank       this rank, {@code [0, ranks)}
 * @param ranks      N
 * @param kvHead0    first KV head owned
 * @param kvHeads    KV heads owned ({@code K/N})
 * @param queryHeads query heads owned ({@code kvHeads * groupSize})
 * @param ffn0       first expert FFN column owned
 * @param ffn        expert FFN columns owned
 * @param vocab0     first vocabulary row of the unembedding owned
 * @param vocab      vocabulary rows owned (the last rank may own fewer than {@link #vocabPerRank()})
 * @param vocabPerRank {@code P}, the padded count every rank contributes to the logits gather
 */
public record Partition(int rank, int ranks, int kvHead0, int kvHeads, int queryHeads, int ffn0, int ffn, int vocab0,
                        int vocab, int vocabPerRank) {

    /** The whole model on one process. */
    public static Partition whole(GrokConfig cfg) {
        return of(cfg, 0, 1);
    }

    /**
     * Rank {@code rank}'s part of a model with {@code cfg} over {@code ranks} ranks.
     *
     * @throws IllegalArgumentException if {@code ranks} does not divide the KV heads (the message names the rank
     *                                  counts that do), or leaves a rank without FFN columns or vocabulary
     */
    public static Partition of(GrokConfig cfg, int rank, int ranks) {
        int kv = cfg.kvHeads();
        if (ranks < 1 || kv % ranks != 0) {
            throw new IllegalArgumentException("tensor parallelism over " + ranks + " ranks needs a rank count that divides the "
                    + kv + " KV heads: " + divisors(kv));
        }
        if (rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + ranks + ")");
        }
        int f = cfg.expertFfn();
        int ffn0 = (int) ((long) f * rank / ranks);
        int ffn1 = (int) ((long) f * (rank + 1) / ranks);
        int per = (cfg.vocabSize() + ranks - 1) / ranks;
        int v0 = Math.min(cfg.vocabSize(), rank * per);
        int v1 = Math.min(cfg.vocabSize(), v0 + per);
        if (ffn1 <= ffn0 || v1 <= v0) {
            throw new IllegalArgumentException("tensor parallelism over " + ranks + " ranks leaves rank " + rank
                    + " without FFN columns or vocabulary (FFN " + f + ", vocabulary " + cfg.vocabSize() + ")");
        }
        int kvPer = kv / ranks;
        return new Partition(rank, ranks, rank * kvPer, kvPer, kvPer * cfg.groupSize(), ffn0, ffn1 - ffn0, v0, v1 - v0, per);
    }

    private static String divisors(int n) {
        List<String> d = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            if (n % i == 0) {
                d.add(Integer.toString(i));
            }
        }
        return String.join(", ", d);
    }

    /** True for a single process owning everything. */
    public boolean isWhole() {
        return ranks == 1;
    }

    /**
     * This rank's weights: views over the same mapped bytes (nothing copied, and bytes outside the slices never
     * touched), the router, norms and embedding lookup shared.
     *
     * @throws IllegalArgumentException if a matrix cannot be cut where this partition needs it (e.g. a GGUF block
     *                                  straddles the FFN cut), naming the tensor
     */
    public GrokWeights slice(GrokWeights w) {
        if (isWhole()) {
            return w;
        }
        GrokConfig cfg = w.config();
        int hd = cfg.headDim();
        int q0 = kvHead0 * cfg.groupSize() * hd, q1 = q0 + queryHeads * hd;
        int k0 = kvHead0 * hd, k1 = k0 + kvHeads * hd;
        List<LayerWeights> layers = new ArrayList<>(w.layers().size());
        for (int l = 0; l < w.layers().size(); l++) {
            LayerWeights lw = w.layers().get(l);
            String p = "layer " + l + " ";
            int e = lw.gate().length;
            WeightMatrix[] gate = new WeightMatrix[e], up = new WeightMatrix[e], down = new WeightMatrix[e];
            for (int x = 0; x < e; x++) {
                WeightMatrix g = lw.gate()[x], u = lw.up()[x], dn = lw.down()[x];
                gate[x] = cut(p + "expert " + x + " gate", () -> g.columns(ffn0, ffn0 + ffn));
                up[x] = cut(p + "expert " + x + " up", () -> u.columns(ffn0, ffn0 + ffn));
                down[x] = cut(p + "expert " + x + " down", () -> dn.rows(ffn0, ffn0 + ffn));
            }
            WeightMatrix denseGate = null, denseUp = null, denseDown = null;
            if (lw.hasDenseMlp()) {
                int g = lw.denseGate().outputDim();
                int g0 = (int) ((long) g * rank / ranks), g1 = (int) ((long) g * (rank + 1) / ranks);
                denseGate = cut(p + "dense gate", () -> lw.denseGate().columns(g0, g1));
                denseUp = cut(p + "dense up", () -> lw.denseUp().columns(g0, g1));
                denseDown = cut(p + "dense down", () -> lw.denseDown().rows(g0, g1));
            }
            layers.add(new LayerWeights(lw.attnNorm(),
                    cut(p + "query", () -> lw.query().columns(q0, q1)),
                    cut(p + "key", () -> lw.key().columns(k0, k1)),
                    cut(p + "value", () -> lw.value().columns(k0, k1)),
                    cut(p + "attention output", () -> lw.attnOutput().rows(q0, q1)),
                    lw.postAttnNorm(), lw.preMoeNorm(), lw.router(), gate, up, down, lw.postMoeNorm(),
                    denseGate, denseUp, denseDown));
        }
        Embedding full = w.embedding();
        WeightMatrix unembedding = cut("unembedding", () -> w.unembedding().columns(vocab0, vocab0 + vocab));
        Embedding local = new Embedding() {
            @Override
            public void lookup(int token, float[] out, int off) {
                full.lookup(token, out, off);
            }

            @Override
            public WeightMatrix unembedding() {
                return unembedding;
            }
        };
        return w.output() == null ? new GrokWeights(cfg, local, w.finalNorm(), layers)
                : new GrokWeights(cfg, full, w.finalNorm(), layers, unembedding);
    }

    private interface Cut {
        WeightMatrix get();
    }

    private WeightMatrix cut(String tensor, Cut c) {
        try {
            return c.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor parallelism over " + ranks + " ranks: " + tensor + ": " + e.getMessage(), e);
        }
    }
}
