package grok1j.format.safetensors;

import grok1j.format.ModelFormatException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The hyperparameters a Grok-2 {@code config.json} gives (grok-2 spec §1), read with the spec's parsing rules:
 * unknown keys are ignored, numbers are read as doubles whether written as integers or not, a missing or mistyped
 * required key is an error naming it, and features the engine lacks ({@code rope_type} other than
 * {@code "original"}, a sliding window, interleaved global attention) are refused. Missing optional keys mean
 * Grok-1 behaviour.
 *
 * @param vocabSize            {@code vocab_size} (131,072)
 * @param hiddenSize           {@code hidden_size}, D (8192)
 * @param layers               {@code num_hidden_layers} (64)
 * @param queryHeads           {@code num_attention_heads} (64)
 * @param kvHeads              {@code num_key_value_heads} (8)
 * @param headDim              {@code head_dim}, default {@code hidden_size / num_attention_heads} (128)
 * @param denseFfn             {@code intermediate_size}: the residual dense MLP's width (32,768); 0 without it
 * @param expertFfn            {@code moe_intermediate_size}, F (16,384); {@code intermediate_size} without residual MoE
 * @param experts              {@code num_local_experts} (8)
 * @param expertsPerToken      {@code num_experts_per_tok} (2)
 * @param residualMoe          {@code residual_moe}: the dense MLP runs beside the experts (true); default false
 * @param rmsNormEps           {@code rms_norm_eps} (1e-5)
 * @param ropeTheta            {@code rope_theta} (208,533,496); default 10,000
 * @param contextLength        {@code max_position_embeddings} (131,072); default 8192
 * @param attnLogitSoftcap     {@code attn_logit_softcapping} (30)
 * @param routerLogitSoftcap   always 30 for Grok-2, as SGLang hard-codes it (a different config value is a warning)
 * @param finalLogitSoftcap    {@code final_logit_softcapping} (50); 0 = off (the default)
 * @param attnTemperatureLen   {@code attn_temperature_len} L (1024); -1 = off (the default)
 * @param embeddingMultiplier  {@code embedding_multiplier_scale} (90.50966799187809), applied as float32
 * @param outputMultiplier     {@code output_multiplier_scale} (0.5)
 * @param attnLogitScale       {@code attn_output_multiplier} if present, else {@code head_dim^-0.5}
 * @param warnings             what the config says that the engine overrides (e.g. a router cap other than 30)
 */
public record Grok2Config(int vocabSize, int hiddenSize, int layers, int queryHeads, int kvHeads, int headDim,
                          int denseFfn, int expertFfn, int experts, int expertsPerToken, boolean residualMoe,
                          double rmsNormEps, double ropeTheta, int contextLength, double attnLogitSoftcap,
                          double routerLogitSoftcap, double finalLogitSoftcap, double attnTemperatureLen,
                          double embeddingMultiplier, double outputMultiplier, double attnLogitScale,
                          List<String> warnings) {

    /** SGLang's router cap for Grok-2 (spec §2.3). */
    public static final double GROK2_ROUTER_SOFTCAP = 30;

    /**
     * @param file the {@code config.json} (for messages)
     * @param m    its parsed object
     * @throws ModelFormatException one line naming the file and the key
     */
    public static Grok2Config fromJson(Path file, Map<?, ?> m) throws ModelFormatException {
        Reader r = new Reader(file, m);
        int vocab = r.positiveInt("vocab_size", null);
        int d = r.positiveInt("hidden_size", null);
        int layers = r.positiveInt("num_hidden_layers", null);
        int heads = r.positiveInt("num_attention_heads", null);
        int kvHeads = r.positiveInt("num_key_value_heads", null);
        int headDim = r.positiveInt("head_dim", d / heads);
        int experts = r.positiveInt("num_local_experts", null);
        int perToken = r.positiveInt("num_experts_per_tok", null);
        boolean residual = r.bool("residual_moe", false);
        int dense = residual ? r.positiveInt("intermediate_size", null) : 0;
        int expertFfn = residual ? r.positiveInt("moe_intermediate_size", null)
                : r.positiveInt("moe_intermediate_size", r.positiveInt("intermediate_size", null));
        if (heads % kvHeads != 0) {
            throw r.error("num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        if (perToken > experts) {
            throw r.error("num_experts_per_tok " + perToken + " exceeds num_local_experts " + experts);
        }
        if (headDim % 2 != 0) {
            throw r.error("head_dim " + headDim + " must be even for RoPE");
        }
        Object ropeType = m.get("rope_type");
        if (ropeType != null && !"original".equals(ropeType)) {
            throw r.error("rope_type " + ropeType + " is not supported (only \"original\": plain RoPE)");
        }
        if (r.number("sliding_window_size", -1) != -1) {
            throw r.error("sliding_window_size " + m.get("sliding_window_size") + " is not supported (only -1)");
        }
        if (r.number("global_attn_every_n", 1) != 1) {
            throw r.error("global_attn_every_n " + m.get("global_attn_every_n") + " is not supported (only 1)");
        }
        List<String> warnings = new java.util.ArrayList<>();
        double routerCap = r.number("router_logit_softcapping", GROK2_ROUTER_SOFTCAP);
        if (routerCap != GROK2_ROUTER_SOFTCAP) {
            warnings.add(file + ": router_logit_softcapping " + routerCap + " ignored: Grok-2 uses 30, as SGLang");
        }
        return new Grok2Config(vocab, d, layers, heads, kvHeads, headDim, dense, expertFfn, experts, perToken, residual,
                r.positive("rms_norm_eps", 1e-5), r.positive("rope_theta", 10_000),
                r.positiveInt("max_position_embeddings", 8192), r.positive("attn_logit_softcapping", 30),
                GROK2_ROUTER_SOFTCAP, r.number("final_logit_softcapping", 0), r.number("attn_temperature_len", -1),
                r.positive("embedding_multiplier_scale", 78.38367176906169),
                r.positive("output_multiplier_scale", 0.5773502691896257),
                r.positive("attn_output_multiplier", 1 / Math.sqrt(headDim)), List.copyOf(warnings));
    }

    /** Typed access to config keys with errors that name the file and the key. */
    private record Reader(Path file, Map<?, ?> m) {
        ModelFormatException error(String what) {
            return new ModelFormatException(file + ": " + what);
        }

        double number(String key, double dflt) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                return dflt;
            }
            if (!(v instanceof Number n)) {
                throw error(key + " must be a number, found " + v);
            }
            return n.doubleValue();
        }

        double positive(String key, double dflt) throws ModelFormatException {
            double v = number(key, dflt);
            if (!(v > 0) || Double.isInfinite(v)) {
                throw error(key + " must be a positive number, found " + m.get(key));
            }
            return v;
        }

        int positiveInt(String key, Integer dflt) throws ModelFormatException {
            if (m.get(key) == null) {
                if (dflt == null) {
                    throw error("missing required key " + key);
                }
                return dflt;
            }
            double v = number(key, 0);
            if (v != Math.rint(v) || v < 1 || v > Integer.MAX_VALUE) {
                throw error(key + " must be a positive integer, found " + m.get(key));
            }
            return (int) v;
        }

        boolean bool(String key, boolean dflt) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                return dflt;
            }
            if (!(v instanceof Boolean b)) {
                throw error(key + " must be true or false, found " + v);
            }
            return b;
        }
    }
}
