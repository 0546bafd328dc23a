package grok1j.model;

import java.util.Map;

/**
 * Hyperparameters of a Grok family model (spec §1; what Grok-2 does differently is {@link #architecture()}).
 * {@link #grok1()} gives the released Grok-1's values;
 * {@link #fromJson} reads a Hugging Face style {@code config.json} (keys as in {@code fixtures/grok-1-tiny/config.json})
 * over those defaults.
 *
 * @param vocabSize            tokens in the vocabulary (131072)
 * @param dModel               residual width (6144)
 * @param layers               decoder layers (64)
 * @param queryHeads           attention query heads (48)
 * @param kvHeads              key/value heads (8); query head {@code h} uses KV head {@code h / (queryHeads/kvHeads)}
 * @param headDim              per-head width (128); RoPE rotates all of it
 * @param expertFfn            expert hidden width (32768)
 * @param experts              experts per layer (8)
 * @param expertsPerToken      experts routed per token (2)
 * @param contextLength        maximum sequence length incl. prompt (8192)
 * @param ropeTheta            RoPE base (10000)
 * @param rmsEps               RMSNorm epsilon (1e-5)
 * @param embeddingMultiplier  nominal embedding multiplier (78.38...; applied bf16-rounded, see {@link #effectiveEmbeddingMultiplier})
 * @param outputMultiplier     nominal logit multiplier (0.5773...; applied bf16-rounded)
 * @param attnOutputMultiplier the attention <em>logit</em> scale (0.0883883 = 1/sqrt(128)), applied in float32
 * @param attnSoftcap          attention logit soft-cap c in {@code c*tanh(x/c)} (30); 0 = no cap (Hugging Face's convention)
 * @param padId                padding id (0); the model masks keys whose token is this id
 * @param bosId                beginning-of-sequence id (1); never added by the reference
 * @param eosId                end-of-sequence id (2)
 * @param architecture         what this family member does differently ({@link Architecture#grok1()} by default)
 */
public record GrokConfig(int vocabSize, int dModel, int layers, int queryHeads, int kvHeads, int headDim, int expertFfn,
                         int experts, int expertsPerToken, int contextLength, double ropeTheta, double rmsEps,
                         double embeddingMultiplier, double outputMultiplier, double attnOutputMultiplier,
                         double attnSoftcap, int padId, int bosId, int eosId, Architecture architecture) {

    /** A Grok-1 architecture model. */
    public GrokConfig(int vocabSize, int dModel, int layers, int queryHeads, int kvHeads, int headDim, int expertFfn,
                      int experts, int expertsPerToken, int contextLength, double ropeTheta, double rmsEps,
                      double embeddingMultiplier, double outputMultiplier, double attnOutputMultiplier,
                      double attnSoftcap, int padId, int bosId, int eosId) {
        this(vocabSize, dModel, layers, queryHeads, kvHeads, headDim, expertFfn, experts, expertsPerToken, contextLength,
                ropeTheta, rmsEps, embeddingMultiplier, outputMultiplier, attnOutputMultiplier, attnSoftcap, padId, bosId,
                eosId, Architecture.grok1());
    }

    public GrokConfig {
        java.util.Objects.requireNonNull(architecture, "architecture");
        positive("vocab_size", vocabSize);
        positive("hidden_size", dModel);
        positive("num_hidden_layers", layers);
        positive("num_attention_heads", queryHeads);
        positive("num_key_value_heads", kvHeads);
        positive("head_dim", headDim);
        positive("intermediate_size", expertFfn);
        positive("num_experts", experts);
        positive("num_experts_per_tok", expertsPerToken);
        positive("max_position_embeddings", contextLength);
        if (queryHeads % kvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads " + queryHeads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        if (expertsPerToken > experts) {
            throw new IllegalArgumentException("num_experts_per_tok " + expertsPerToken + " exceeds num_experts " + experts);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim " + headDim + " must be even for RoPE");
        }
        positive("rope_theta", ropeTheta);
        positive("rms_norm_eps", rmsEps);
        positive("embedding_multiplier_scale", embeddingMultiplier);
        positive("output_multiplier_scale", outputMultiplier);
        positive("attn_output_multiplier", attnOutputMultiplier);
        if (!(attnSoftcap >= 0) || Double.isInfinite(attnSoftcap)) { // 0 = no cap
            throw new IllegalArgumentException("attn_logit_softcapping must be a positive number or 0 (no cap), got " + attnSoftcap);
        }
        tokenId("pad_token_id", padId, vocabSize);
        tokenId("bos_token_id", bosId, vocabSize);
        tokenId("eos_token_id", eosId, vocabSize);
    }

    private static void positive(String key, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(key + " must be a positive number, got " + v);
        }
    }

    /** A special token id must name a vocabulary entry; -1 means the model has none. */
    private static void tokenId(String key, int id, int vocab) {
        if (id < -1 || id >= vocab) {
            throw new IllegalArgumentException(key + " " + id + " is outside the vocabulary [0, " + vocab + ") (-1 for none)");
        }
    }

    private static void positive(String key, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(key + " must be positive, got " + v);
        }
    }


    /** The released Grok-1 (spec §1). */
    public static GrokConfig grok1() {
        return new GrokConfig(131072, 6144, 64, 48, 8, 128, 32768, 8, 2, 8192, 10000, 1e-5,
                78.38367176906169, 0.5773502691896257, 0.08838834764831845, 30.0, 0, 1, 2);
    }

    /**
     * The released Grok-2 (grok-2 spec §1): d_model 8192, 64 query / 8 KV heads of 128, 8 experts of FFN 16,384 (top
     * 2) beside a dense MLP of 32,768, RoPE theta 208,533,496, attention temperature length 1024, final cap 50.
     */
    public static GrokConfig grok2() {
        return new GrokConfig(131072, 8192, 64, 64, 8, 128, 16384, 8, 2, 131072, 208533496, 1e-5,
                90.50966799187809, 0.5, 0.08838834764831845, 30.0, -1, -1, 2, Architecture.grok2(1024, 50, 32768));
    }

    /** The same model with {@code n} decoder layers (for running a prefix of the layers, e.g. a warm-up). */
    public GrokConfig withLayers(int n) {
        return new GrokConfig(vocabSize, dModel, n, queryHeads, kvHeads, headDim, expertFfn, experts, expertsPerToken,
                contextLength, ropeTheta, rmsEps, embeddingMultiplier, outputMultiplier, attnOutputMultiplier, attnSoftcap,
                padId, bosId, eosId, architecture);
    }

    /** Query heads per KV head (GQA group size). */
    public int groupSize() {
        return queryHeads / kvHeads;
    }

    /**
     * The value the reference really multiplies the embeddings by: bf16-rounded for Grok-1 (78.5, spec §3.1), float32
     * for Grok-2 (90.50966644, grok-2 spec §2.6).
     */
    public float effectiveEmbeddingMultiplier() {
        float m = (float) embeddingMultiplier;
        return architecture.bf16Multipliers() ? grok1j.tensor.BFloat16.round(m) : m;
    }

    /** The logit multiplier as applied: bf16-rounded for Grok-1 (0.578125, spec §3.1), float32 for Grok-2 (0.5). */
    public float effectiveOutputMultiplier() {
        float m = (float) outputMultiplier;
        return architecture.bf16Multipliers() ? grok1j.tensor.BFloat16.round(m) : m;
    }

    /**
     * Reads a {@code config.json} object over the Grok-1 defaults. Recognised keys: vocab_size, hidden_size,
     * num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim, intermediate_size (or
     * widening_factor), num_experts (or num_local_experts), num_experts_per_tok, max_position_embeddings,
     * rope_theta, rms_norm_eps, embedding_multiplier_scale, output_multiplier_scale, attn_output_multiplier,
     * attn_logit_softcapping (or max_attn_value), pad/bos/eos_token_id. Unknown keys are ignored.
     *
     * @throws IllegalArgumentException naming the key when a value has the wrong type or is out of range
     */
    public static GrokConfig fromJson(Map<String, Object> m) {
        GrokConfig d = grok1();
        int dModel = intKey(m, "hidden_size", d.dModel);
        int qh = intKey(m, "num_attention_heads", d.queryHeads);
        int headDim = intKey(m, "head_dim", m.containsKey("hidden_size") && !m.containsKey("head_dim") ? dModel / qh : d.headDim);
        int ffn;
        if (m.containsKey("intermediate_size")) {
            ffn = intKey(m, "intermediate_size", d.expertFfn);
        } else if (m.containsKey("widening_factor")) {
            // model.py ffn_size (spec §1): int(wf * d) * 2 // 3, rounded up to a multiple of 8
            int f = (int) (doubleKey(m, "widening_factor", 8) * dModel) * 2 / 3;
            ffn = f + Math.floorMod(8 - f, 8);
        } else {
            ffn = d.expertFfn;
        }
        return new GrokConfig(
                intKey(m, "vocab_size", d.vocabSize), dModel,
                intKey(m, "num_hidden_layers", d.layers), qh,
                intKey(m, "num_key_value_heads", d.kvHeads), headDim, ffn,
                intKey(m, "num_experts", intKey(m, "num_local_experts", d.experts)),
                intKey(m, "num_experts_per_tok", d.expertsPerToken),
                intKey(m, "max_position_embeddings", d.contextLength),
                doubleKey(m, "rope_theta", d.ropeTheta),
                doubleKey(m, "rms_norm_eps", d.rmsEps),
                doubleKey(m, "embedding_multiplier_scale", d.embeddingMultiplier),
                doubleKey(m, "output_multiplier_scale", d.outputMultiplier),
                doubleKey(m, "attn_output_multiplier", d.attnOutputMultiplier),
                doubleKey(m, "attn_logit_softcapping", doubleKey(m, "max_attn_value", d.attnSoftcap)),
                intKey(m, "pad_token_id", d.padId),
                intKey(m, "bos_token_id", d.bosId),
                intKey(m, "eos_token_id", d.eosId));
    }

    private static int intKey(Map<String, Object> m, String key, int dflt) {
        if (!m.containsKey(key)) {
            return dflt;
        }
        Object v = m.get(key);
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw new IllegalArgumentException("config key " + key + " must be an integer, got " + describe(v));
        }
        if (Math.abs(n.doubleValue()) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("config key " + key + " is out of range: " + v);
        }
        return n.intValue();
    }

    private static double doubleKey(Map<String, Object> m, String key, double dflt) {
        if (!m.containsKey(key)) {
            return dflt;
        }
        Object v = m.get(key);
        if (v instanceof Number n && Double.isFinite(n.doubleValue())) {
            return n.doubleValue();
        }
        throw new IllegalArgumentException("config key " + key + " must be a number, got " + describe(v));
    }

    private static String describe(Object v) {
        return v == null ? "null" : v instanceof String str ? "the string \"" + str + "\"" : String.valueOf(v);
    }

    /** One line for logs and {@code inspect}. */
    public String summary() {
        String common = String.format("d_model %d, %d layers, %d query / %d KV heads x %d, %d experts (top-%d) x ffn %d, vocab %d, context %d, "
                        + "rope theta %.0f, rms eps %g, embedding x%s, logits x%s, attention logits x%s, soft-cap %.1f",
                dModel, layers, queryHeads, kvHeads, headDim, experts, expertsPerToken, expertFfn, vocabSize, contextLength,
                ropeTheta, rmsEps, effectiveEmbeddingMultiplier(), effectiveOutputMultiplier(), (float) attnOutputMultiplier, attnSoftcap);
        if (architecture.equals(Architecture.grok1())) {
            return common;
        }
        Architecture a = architecture;
        return common + String.format(
                ", %s: %s GELU, router cap %.1f, attention temperature length %s, final cap %.1f, dense FFN %d",
                a.name(), a.erfGelu() ? "erf" : "tanh", a.routerSoftcap(),
                a.attnTemperatureLength() > 0 ? String.format("%.0f", a.attnTemperatureLength()) : "off", a.finalSoftcap(), a.denseFfn());
    }
}
