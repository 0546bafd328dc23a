package grok1j.format.gguf;

import grok1j.format.pickle.CheckpointLayout.Slot;
import grok1j.format.pickle.CheckpointLayout;
import grok1j.format.pickle.OfficialCheckpointWriter;
import grok1j.model.GrokConfig;
import grok1j.tensor.BFloat16;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A random Grok-architecture model written in the official format (spec §4): {@code config.json} and
 * {@code ckpt-0/} with one pickle shard per parameter in the lexicographic layer order of §4.2, the int8 weights
 * quantized from Gaussian weights the way {@code shared/reference/make_fixture.py} does (per output column and
 * scale group: {@code s = bf16(max|w| / 127)}, {@code q = clip(rint(w / s), -127, 127)}).
 */
public final class RandomCheckpoint {
    private RandomCheckpoint() {}

    /**
     * @param embStd     standard deviation of the embedding table
     * @param postScale  mean of the two post-sublayer norms ({@code rms_norm_1}, {@code rms_norm_3})
     * @param finalScale mean of the final norm (sharpens the logits of the tied unembedding)
     * @param routerStd  standard deviation of the router weights times sqrt(d_model) (1: router logits ~ N(0, 1))
     * @param attnGroups scale groups of the attention output projection
     * @param downGroups scale groups of the experts' down projection
     */
    public record Shape(GrokConfig config, double embStd, double postScale, double finalScale, double routerStd, int attnGroups,
                 int downGroups) {}

    /** Writes the checkpoint under {@code root}; returns {@code root}. */
    public static Path write(Path root, Shape s, long seed) throws IOException {
        GrokConfig c = s.config();
        Random r = new Random(seed);
        Path ckpt = OfficialCheckpointWriter.startCheckpoint(root, c);
        CheckpointLayout layout = new CheckpointLayout(c.layers());
        int d = c.dModel(), e = c.experts(), f = c.expertFfn();
        int q = c.queryHeads() * c.headDim(), kv = c.kvHeads() * c.headDim();

        float[] emb = gaussian(r, c.vocabSize() * d, 0, s.embStd());
        write(ckpt, 0, OfficialCheckpointWriter.f32Shard(emb, c.vocabSize(), d));
        write(ckpt, 1, OfficialCheckpointWriter.f32Shard(gaussian(r, d, s.finalScale(), 0.1), d));
        for (int l = 0; l < c.layers(); l++) {
            for (Slot slot : Slot.values()) {
                byte[] shard = switch (slot) {
                    case GATE, UP -> linear(r, e, d, f, 1);
                    case DOWN -> linear(r, e, f, d, s.downGroups());
                    case KEY, VALUE -> linear(r, 0, d, kv, 1);
                    case QUERY -> linear(r, 0, d, q, 1);
                    case ATTN_OUTPUT -> linear(r, 0, q, d, s.attnGroups());
                    case ATTN_NORM, PRE_MOE_NORM -> OfficialCheckpointWriter.f32Shard(gaussian(r, d, 1, 0.1), d);
                    case POST_ATTN_NORM, POST_MOE_NORM -> OfficialCheckpointWriter.f32Shard(gaussian(r, d, s.postScale(), 0.1), d);
                    case ROUTER -> OfficialCheckpointWriter.f32Shard(gaussian(r, d * e, 0, s.routerStd() / Math.sqrt(d)), d, e);
                };
                write(ckpt, layout.fileIndex(l, slot), shard);
            }
        }
        return root;
    }

    private static void write(Path ckpt, int index, byte[] shard) throws IOException {
        Files.write(ckpt.resolve(CheckpointLayout.fileName(index)), shard);
    }

    private static float[] gaussian(Random r, int n, double mean, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * r.nextGaussian());
        }
        return v;
    }

    /**
     * A {@code QuantizedWeight8bit} shard of {@code [experts,] k, n} weights drawn from N(0, 1/k), with bf16 scales
     * {@code [experts,] groups, n}. {@code experts == 0} gives a 2-D weight.
     */
    private static byte[] linear(Random r, int experts, int k, int n, int groups) {
        int mats = Math.max(1, experts);
        int rows = k / groups;
        byte[] q = new byte[mats * k * n];
        short[] scales = new short[mats * groups * n];
        float[] w = new float[k * n];
        for (int m = 0; m < mats; m++) {
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (r.nextGaussian() / Math.sqrt(k));
            }
            for (int g = 0; g < groups; g++) {
                for (int col = 0; col < n; col++) {
                    float max = 0;
                    for (int row = g * rows; row < (g + 1) * rows; row++) {
                        max = Math.max(max, Math.abs(w[row * n + col]));
                    }
                    short sb = BFloat16.fromFloat(max / 127f);
                    scales[(m * groups + g) * n + col] = sb;
                    float sf = BFloat16.toFloat(sb);
                    for (int row = g * rows; row < (g + 1) * rows; row++) {
                        float v = (float) Math.rint(w[row * n + col] / sf);
                        q[m * k * n + row * n + col] = (byte) Math.max(-127, Math.min(127, v));
                    }
                }
            }
        }
        long[] qShape = experts == 0 ? new long[] {k, n} : new long[] {experts, k, n};
        long[] sShape = experts == 0 ? new long[] {groups, n} : new long[] {experts, groups, n};
        return OfficialCheckpointWriter.quantizedShard(q, qShape, scales, sShape);
    }
}
