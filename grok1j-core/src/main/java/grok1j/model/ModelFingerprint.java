package grok1j.model;

import grok1j.tensor.WeightMatrix;

/**
 * A 64-bit digest of what a model computes, cheap enough to take at every start: the hyperparameters, every
 * matrix's shape and storage type, the norm scales (already in memory) and two rows of the embedding table (two
 * pages). Ranks of a tensor-parallel job compare theirs before the first step, so a host that opened another
 * checkpoint, another quantization or another config is refused instead of computing garbage. It does not read the
 * bulk of the weights (a rank never touches other ranks' bytes), so two checkpoints that differ only there agree.
 */
public final class ModelFingerprint {
    private long h = 0xcbf29ce484222325L;

    private ModelFingerprint() {
    }

    /** The digest of {@code w} (the whole model, before any slicing). */
    public static long of(GrokWeights w) {
        ModelFingerprint f = new ModelFingerprint();
        f.add(w.config().toString());
        f.add(w.finalNorm());
        int d = w.config().dModel();
        float[] row = new float[d];
        for (int token : new int[] {0, w.config().vocabSize() - 1}) {
            w.embedding().lookup(token, row, 0);
            f.add(row);
        }
        f.add(w.unembedding());
        for (LayerWeights lw : w.layers()) {
            f.add(lw.attnNorm());
            f.add(lw.postAttnNorm());
            f.add(lw.preMoeNorm());
            f.add(lw.postMoeNorm());
            f.add(lw.query());
            f.add(lw.key());
            f.add(lw.value());
            f.add(lw.attnOutput());
            f.add(lw.router());
            for (int e = 0; e < lw.gate().length; e++) {
                f.add(lw.gate()[e]);
                f.add(lw.up()[e]);
                f.add(lw.down()[e]);
            }
            if (lw.hasDenseMlp()) {
                f.add(lw.denseGate());
                f.add(lw.denseUp());
                f.add(lw.denseDown());
            }
        }
        return f.h;
    }

    private void add(long v) {
        for (int i = 0; i < 8; i++) {
            h ^= (v >>> (8 * i)) & 0xFF;
            h *= 0x100000001b3L;
        }
    }

    private void add(String s) {
        for (int i = 0; i < s.length(); i++) {
            add(s.charAt(i));
        }
    }

    private void add(float[] v) {
        add(v.length);
        for (float x : v) {
            add(Float.floatToRawIntBits(x));
        }
    }

    private void add(WeightMatrix m) {
        add(m.inputDim());
        add(m.outputDim());
        add(m.storedBytes());
        add(m.typeName());
    }
}
