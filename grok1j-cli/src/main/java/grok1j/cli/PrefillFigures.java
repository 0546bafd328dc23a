package grok1j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The bench's figures of one timed prefill of {@code tokens} tokens. Every layer but the last is a full layer; the
 * last runs past its key/value projections only for the positions that want logits (grok1j and llama.cpp both do
 * that), so the per-layer figures (ms per token per layer, GFLOP/s, the fraction of the FMA peak, the projection to
 * 64 layers) come from the full layers alone and do not exist with one layer. Tokens/s and the time to first token
 * are whole-forward figures and always valid.
 *
 * @param tokens          prompt length
 * @param ms              wall time of the whole forward pass (first token included), ms
 * @param msPerTokenLayer mean ms per token of a full layer, or NaN with one layer
 * @param gflops          GFLOP/s of a full layer, or NaN
 * @param fmaFraction     {@code gflops} over the FMA peak, or NaN (also without a peak)
 * @param projected64     tokens/s projected to 64 layers, or NaN
 * @param lastLayerMs     the last layer's time, ms
 */
record PrefillFigures(int tokens, double ms, double msPerTokenLayer, double gflops, double fmaFraction,
                      double projected64, double lastLayerMs) {

    /** The line the report prints when {@link #perLayer} is false. */
    static final String ONE_LAYER_NOTE = "per-layer prefill figures (ms per token per layer, GFLOP/s, FMA fraction) "
            + "need --layers 2 or more: the last layer runs the MoE only for the positions that want logits";

    /**
     * @param layerNanos         each layer's time in this prefill, ns
     * @param tokens             prompt length
     * @param ms                 the whole forward pass, ms
     * @param flopsPerTokenLayer floating-point operations per token of a full layer
     * @param fmaPeakGflops      the FMA peak, GFLOP/s, or NaN if not measured
     */
    static PrefillFigures of(long[] layerNanos, int tokens, double ms, double flopsPerTokenLayer, double fmaPeakGflops) {
        int nl = layerNanos.length;
        double lastMs = layerNanos[nl - 1] / 1e6;
        if (nl < 2) {
            return new PrefillFigures(tokens, ms, Double.NaN, Double.NaN, Double.NaN, Double.NaN, lastMs);
        }
        double fullMs = 0;
        for (int l = 0; l < nl - 1; l++) {
            fullMs += layerNanos[l] / 1e6;
        }
        double msTokenLayer = fullMs / (nl - 1) / tokens;
        double gflops = flopsPerTokenLayer / (msTokenLayer * 1e6);
        // 64 full layers, plus whatever the run spent outside its full layers (the last layer, embedding, logits)
        double projected = tokens / ((64 * msTokenLayer * tokens + (ms - fullMs)) / 1000);
        return new PrefillFigures(tokens, ms, msTokenLayer, gflops, gflops / fmaPeakGflops, projected, lastMs);
    }

    /** Whether the per-layer figures exist (two layers or more). */
    boolean perLayer() {
        return !Double.isNaN(msPerTokenLayer);
    }

    double tokensPerS() {
        return tokens / (ms / 1000);
    }
}
