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
 */
public record LayerWeights(float[] attnNorm, WeightMatrix query, WeightMatrix key, WeightMatrix value,
                           WeightMatrix attnOutput, float[] postAttnNorm, float[] preMoeNorm, WeightMatrix router,
                           WeightMatrix[] gate, WeightMatrix[] up, WeightMatrix[] down, float[] postMoeNorm) {
}
