package grok1j.model;

import grok1j.tensor.WeightMatrix;

/**
 * One decoder layer's weights (spec §2), format-independent. Matrices are {@code [in, out]} views over the stored
 * bytes; norm scales are small float32 copies.
 *
 * @param attnNorm     rms_norm, [d_model], pre-attention
 * @param query        [d_model, queryHeads*headDim]
 * @param key          [d_model, kvHeads*headDim]
 * @param value        [d_model, kvHeads*headDim]
 * @param attnOutput   multi_head_attention/linear, [queryHeads*headDim, d_model]
 * @param postAttnNorm rms_norm_1, [d_model], on the attention branch before the residual add
 * @param preMoeNorm   rms_norm_2, [d_model]
 * @param router       [d_model, experts], float32
 * @param gate         per expert moe/linear (GELU branch), [d_model, ffn]
 * @param up           per expert moe/linear_v, [d_model, ffn]
 * @param down         per expert moe/linear_1, [ffn, d_model]
 * @param postMoeNorm  rms_norm_3, [d_model], on the MoE branch before the residual add
 * @param denseGate    residual dense MLP gate (GELU branch), [d_model, denseFfn], or null (Grok-2 spec §2.5)
 * @param denseUp      residual dense MLP up, [d_model, denseFfn], or null
 * @param denseDown    residual dense MLP down, [denseFfn, d_model], or null
 */
public record LayerWeights(float[] attnNorm, WeightMatrix query, WeightMatrix key, WeightMatrix value,
                           WeightMatrix attnOutput, float[] postAttnNorm, float[] preMoeNorm, WeightMatrix router,
                           WeightMatrix[] gate, WeightMatrix[] up, WeightMatrix[] down, float[] postMoeNorm,
                           WeightMatrix denseGate, WeightMatrix denseUp, WeightMatrix denseDown) {

    public LayerWeights {
        if ((denseGate == null) != (denseUp == null) || (denseGate == null) != (denseDown == null)) {
            throw new IllegalArgumentException("the dense MLP needs all of gate, up and down, or none");
        }
    }

    /** A layer without a dense MLP (Grok-1). */
    public LayerWeights(float[] attnNorm, WeightMatrix query, WeightMatrix key, WeightMatrix value,
                        WeightMatrix attnOutput, float[] postAttnNorm, float[] preMoeNorm, WeightMatrix router,
                        WeightMatrix[] gate, WeightMatrix[] up, WeightMatrix[] down, float[] postMoeNorm) {
        this(attnNorm, query, key, value, attnOutput, postAttnNorm, preMoeNorm, router, gate, up, down, postMoeNorm,
                null, null, null);
    }

    /** True if this layer has a residual dense MLP beside its experts. */
    public boolean hasDenseMlp() {
        return denseGate != null;
    }
}
