package grok1j.format.safetensors;

import grok1j.format.F32Embedding;
import grok1j.format.ModelFile;
import grok1j.format.TensorInfo;
import grok1j.model.Architecture;
import grok1j.model.Embedding;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.BF16Matrix;
import grok1j.tensor.BFloat16;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Grok-2 release folder as a {@link ModelFile} (grok-2 spec §1, §3): the {@link Grok2Checkpoint}'s tensors named
 * into the engine's {@link GrokWeights}, every matrix a view over the mapped files (experts over their 8 rank
 * slices), and its {@code config.json} as a {@link GrokConfig} with {@link Architecture#grok2}.
 */
public final class Grok2Model implements ModelFile {
    /** Grok-2's {@code <|eos|>} (grok-2 spec §1, VERIFIED); the config carries no token ids. */
    private static final int EOS = 2;

    private final Grok2Checkpoint checkpoint;
    private final GrokWeights weights;

    private Grok2Model(Grok2Checkpoint checkpoint, GrokWeights weights) {
        this.checkpoint = checkpoint;
        this.weights = weights;
    }

    /**
     * Opens a Grok-2 folder.
     *
     * @throws grok1j.format.ModelFormatException one line naming the file (and tensor) at fault
     * @throws IOException if a file cannot be read or mapped
     */
    public static Grok2Model open(Path folder) throws IOException {
        Grok2Checkpoint ckpt = Grok2Checkpoint.open(folder);
        try {
            return new Grok2Model(ckpt, weights(ckpt));
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    /** The engine's config for a Grok-2 {@code config.json}. */
    public static GrokConfig config(Grok2Config c) {
        return new GrokConfig(c.vocabSize(), c.hiddenSize(), c.layers(), c.queryHeads(), c.kvHeads(), c.headDim(),
                c.expertFfn(), c.experts(), c.expertsPerToken(), c.contextLength(), c.ropeTheta(), c.rmsNormEps(),
                c.embeddingMultiplier(), c.outputMultiplier(), c.attnLogitScale(), c.attnLogitSoftcap(),
                -1, -1, EOS, Architecture.grok2(c.attnTemperatureLen(), c.finalLogitSoftcap(), c.denseFfn()));
    }

    private static GrokWeights weights(Grok2Checkpoint ckpt) {
        Grok2Config c = ckpt.config();
        GrokConfig cfg = config(c);
        List<LayerWeights> layers = new ArrayList<>(c.layers());
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            int e = c.experts();
            WeightMatrix[] gate = new WeightMatrix[e], up = new WeightMatrix[e], down = new WeightMatrix[e];
            for (int x = 0; x < e; x++) {
                gate[x] = ckpt.expertMatrix(l, x, "w1");
                down[x] = ckpt.expertMatrix(l, x, "w2");
                up[x] = ckpt.expertMatrix(l, x, "w3");
            }
            boolean dense = c.residualMoe();
            layers.add(new LayerWeights(vector(ckpt, p + "pre_attn_norm.weight"),
                    ckpt.matrix(p + "self_attn.q_proj.weight"), ckpt.matrix(p + "self_attn.k_proj.weight"),
                    ckpt.matrix(p + "self_attn.v_proj.weight"), ckpt.matrix(p + "self_attn.o_proj.weight"),
                    vector(ckpt, p + "post_attn_norm.weight"), vector(ckpt, p + "pre_moe_norm.weight"),
                    ckpt.matrix(p + "block_sparse_moe.gate.weight"), gate, up, down,
                    vector(ckpt, p + "post_moe_norm.weight"),
                    dense ? ckpt.matrix(p + "mlp.gate_proj.weight") : null,
                    dense ? ckpt.matrix(p + "mlp.up_proj.weight") : null,
                    dense ? ckpt.matrix(p + "mlp.down_proj.weight") : null));
        }
        WeightMatrix output = ckpt.hasUntiedOutput() ? ckpt.matrix("lm_head.weight") : null;
        return new GrokWeights(cfg, embedding(ckpt.tensor("model.embed_tokens.weight")),
                vector(ckpt, "model.norm.weight"), List.copyOf(layers), output);
    }

    /** A 1-D tensor (a norm scale) widened to float32. */
    private static float[] vector(Grok2Checkpoint ckpt, String name) {
        SafetensorsTensor t = ckpt.tensor(name);
        float[] v = new float[Math.toIntExact(t.elementCount())];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.getFloat(i);
        }
        return v;
    }

    private static Embedding embedding(SafetensorsTensor t) {
        int vocab = Math.toIntExact(t.shape()[0]);
        int d = Math.toIntExact(t.shape()[1]);
        return t.dtype() == SafetensorsDtype.F32 ? new F32Embedding(t.data(), vocab, d) : new BF16Embedding(t.data(), vocab, d);
    }

    /** A bf16 {@code [vocab, d]} table: rows widened exactly on lookup; the same bytes as the tied unembedding. */
    private static final class BF16Embedding implements Embedding {
        private static final ValueLayout.OfShort LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private final MemorySegment table;
        private final int vocab, dim;
        private final BF16Matrix unembedding;

        BF16Embedding(MemorySegment table, int vocab, int dim) {
            this.table = table;
            this.vocab = vocab;
            this.dim = dim;
            this.unembedding = BF16Matrix.of(table, vocab, dim);
        }

        @Override
        public void lookup(int token, float[] out, int off) {
            if (token < 0 || token >= vocab) {
                throw new IndexOutOfBoundsException("token " + token + " outside the vocabulary [0, " + vocab + ")");
            }
            long base = 2L * token * dim;
            for (int i = 0; i < dim; i++) {
                out[off + i] = BFloat16.toFloat(table.get(LE, base + 2L * i));
            }
        }

        @Override
        public WeightMatrix unembedding() {
            return unembedding;
        }
    }

    /** The opened checkpoint (rank files, split tensors). */
    public Grok2Checkpoint checkpoint() {
        return checkpoint;
    }

    @Override
    public GrokWeights weights() {
        return weights;
    }

    @Override
    public List<TensorInfo> tensors() {
        return checkpoint.tensors();
    }

    @Override
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "Grok-2 release (safetensors, experts in " + checkpoint.rankCount() + " -TP-KKK rank files)");
        m.put("folder", checkpoint.folder().toString());
        m.put("model", weights.config().summary());
        m.put("output", checkpoint.hasUntiedOutput() ? "untied (lm_head.weight)" : "tied to the embedding");
        List<String> warnings = checkpoint.warnings();
        for (int i = 0; i < warnings.size(); i++) {
            m.put(warnings.size() == 1 ? "warning" : "warning " + (i + 1), warnings.get(i));
        }
        Path tok = checkpoint.tokenizerPath();
        m.put("tokenizer", tok == null ? "none found" : tok.toString());
        return m;
    }

    @Override
    public Path location() {
        return checkpoint.folder();
    }

    @Override
    public Path tokenizerPath() {
        return checkpoint.tokenizerPath();
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
