package grok1j.model;

import grok1j.tensor.WeightMatrix;

/**
 * The tied input/output embedding (spec §3.2): a {@code [vocab, d_model]} table.
 */
public interface Embedding {

    /** Copies row {@code token} (float32, unscaled) into {@code out[off, off + d_model)}. */
    void lookup(int token, float[] out, int off);

    /** The table used as the unembedding: {@code [d_model, vocab]}, i.e. {@code logits = h @ E^T}. */
    WeightMatrix unembedding();
}
