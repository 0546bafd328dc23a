package grok1j.model;

import java.util.List;

/**
 * All weights of a Grok-1 architecture model, independent of the file format they were read from.
 *
 * @param config    hyperparameters every shape was checked against
 * @param embedding tied embedding / unembedding
 * @param finalNorm language_model/rms_norm scale, [d_model]
 * @param layers    decoder layers in model order (0 .. layers-1)
 */
public record GrokWeights(GrokConfig config, Embedding embedding, float[] finalNorm, List<LayerWeights> layers) {
}
