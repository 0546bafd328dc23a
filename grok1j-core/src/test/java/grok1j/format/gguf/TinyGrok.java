package grok1j.format.gguf;

import grok1j.model.Embedding;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.BFloat16;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.Int8GroupedMatrix;
import grok1j.tensor.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** A random Grok-architecture model built in memory the way the official reader presents one (int8 + bf16 scales). */
final class TinyGrok {
    private TinyGrok() {}

    static GrokConfig config(int d, int ffn, int vocab) {
        return new GrokConfig(vocab, d, 2, 4, 2, d / 4, ffn, 4, 2, 512, 10000, 1e-5, 78.38367176906169,
                0.5773502691896257, 1 / Math.sqrt(d / 4.0), 30.0, 0, 1, 2);
    }

    static Int8GroupedMatrix int8(Random r, int k, int n, int groups) {
        byte[] q = new byte[k * n];
        r.nextBytes(q);
        MemorySegment s = MemorySegment.ofArray(new byte[2 * groups * n]);
        for (int i = 0; i < groups * n; i++) {
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i,
                    BFloat16.fromFloat((float) (0.0005 + 0.001 * r.nextDouble())));
        }
        return new Int8GroupedMatrix(MemorySegment.ofArray(q), s, k, n, groups);
    }

    static float[] norm(Random r, int d) {
        float[] v = new float[d];
        for (int i = 0; i < d; i++) {
            v[i] = (float) (1 + 0.1 * r.nextGaussian());
        }
        return v;
    }

    static GrokWeights weights(GrokConfig c, long seed) {
        Random r = new Random(seed);
        int d = c.dModel(), q = c.queryHeads() * c.headDim(), kv = c.kvHeads() * c.headDim(), f = c.expertFfn();
        float[][] table = new float[c.vocabSize()][d];
        for (float[] row : table) {
            for (int i = 0; i < d; i++) {
                row[i] = (float) (0.02 * r.nextGaussian());
            }
        }
        MemorySegment tableSeg = MemorySegment.ofArray(new float[c.vocabSize() * d]);
        for (int t = 0; t < table.length; t++) {
            MemorySegment.copy(table[t], 0, tableSeg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * t * d, d);
        }
        WeightMatrix unembed = new F32Matrix(tableSeg, d, c.vocabSize(), F32Matrix.Layout.OUT_IN);
        Embedding emb = new Embedding() {
            @Override public void lookup(int token, float[] out, int off) { System.arraycopy(table[token], 0, out, off, d); }
            @Override public WeightMatrix unembedding() { return unembed; }
        };
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            float[] router = new float[d * c.experts()];
            for (int i = 0; i < router.length; i++) {
                router[i] = (float) (0.05 * r.nextGaussian());
            }
            WeightMatrix[] gate = new WeightMatrix[c.experts()], up = new WeightMatrix[c.experts()], down = new WeightMatrix[c.experts()];
            for (int e = 0; e < c.experts(); e++) {
                gate[e] = int8(r, d, f, 1);
                up[e] = int8(r, d, f, 1);
                down[e] = int8(r, f, d, 8);
            }
            layers.add(new LayerWeights(norm(r, d), int8(r, d, q, 1), int8(r, d, kv, 1), int8(r, d, kv, 1), int8(r, q, d, 8),
                    norm(r, d), norm(r, d), new F32Matrix(MemorySegment.ofArray(router), d, c.experts(), F32Matrix.Layout.IN_OUT),
                    gate, up, down, norm(r, d)));
        }
        return new GrokWeights(c, emb, norm(r, d), layers);
    }

    static GgufVocab vocab(int n) {
        String[] t = new String[n];
        float[] s = new float[n];
        int[] ty = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = i == 0 ? "[PAD]" : i < 4 ? "[S" + i + "]" : "▁p" + i;
            s[i] = i < 4 ? 0 : 325 - i;
            ty[i] = i < 4 ? 3 : 1;
        }
        return GgufVocab.grok1(t, s, ty);
    }
}
