package grok1j.model;

import grok1j.tensor.WeightMatrix;
import java.util.List;

/**
 * All weights of a Grok family model, independent of the file format they were read from.
 *
 * @param config    hyperparameters every shape was checked against
 * @param embedding the input embedding (and the unembedding when tied)
 * @param finalNorm language_model/rms_norm scale, [d_model]
 * @param layers    decoder layers in model order (0 .. layers-1)
 * @param output    an untied output projection {@code [d_model, vocab]} (Grok-2's {@code lm_head}), or null when
 *                  the embedding is tied (Grok-1)
 */
public record GrokWeights(GrokConfig config, Embedding embedding, float[] finalNorm, List<LayerWeights> layers,
                          WeightMatrix output) {

    /** Weights with the tied embedding as the output projection. */
    public GrokWeights(GrokConfig config, Embedding embedding, float[] finalNorm, List<LayerWeights> layers) {
        this(config, embedding, finalNorm, layers, null);
    }

    /** The output projection: the untied one, else the embedding's transpose. {@code [d_model, vocab]}. */
    public WeightMatrix unembedding() {
        return output != null ? output : embedding.unembedding();
    }
}
