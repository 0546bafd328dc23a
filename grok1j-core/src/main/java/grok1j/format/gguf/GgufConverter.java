package grok1j.format.gguf;

import grok1j.model.Architecture;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.BF16Matrix;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.GgmlQuant;
import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import grok1j.tensor.Int8GroupedMatrix;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Converts Grok weights (the official Grok-1 checkpoint or a Grok-2 release folder, read by another format reader)
 * to GGUF with architecture {@code grok} (spec §6): tensor names and ggml shapes of spec §6.2, every {@code grok.*}
 * key of §6.1 with the model's nominal values, and the vocabulary arrays.
 *
 * <p>Grok-2 (grok-2 spec §6) is written with llama.cpp's names and keys for it: the dense MLP as
 * {@code blk.N.ffn_{gate,up,down}} beside the {@code _exps} tensors, the post-MoE norm as {@code blk.N.post_ffw_norm},
 * the untied {@code output.weight}; {@code grok.feed_forward_length} is the dense width and
 * {@code grok.expert_feed_forward_length} the expert width; {@code grok.router_logit_softcapping},
 * {@code grok.final_logit_softcapping} and {@code grok.attention.temperature_length}; and its tiktoken vocabulary as
 * byte-level BPE ({@link ByteLevelVocab}). No {@code grok.rope.scaling.*} keys are written: the release's
 * {@code rope_type "original"} is plain RoPE (llama.cpp's converter writes YaRN keys for it). Each expert is read from
 * its rank slices as they lie in the rank files (views: nothing is merged in memory or on disk).
 *
 * <p>Each weight is streamed a tile of output rows at a time from the source's {@link WeightMatrix} views
 * (transposing {@code [in, out]} to GGUF's row-per-output layout), so memory stays bounded by one tile.
 *
 * <p>Type choice per tensor: norms and the router are always F32 (as llama.cpp's converters write them); any other
 * matrix gets the requested type unless its input dimension is not a multiple of that type's block size, or its
 * int8 scale groups span fewer input rows than one block, in which case it is written as F16. With Q8_0 the int8
 * weights of the official checkpoint are stored exactly ({@link GgmlQuant} keeps a block that already lies on an
 * int8 grid), so the one tensor Q8_0 would round is the float32 embedding, which Grok-1 also uses as its output
 * projection: it is written as F16 instead ({@link #embeddingType}), and a Q8_0 file computes the checkpoint's
 * function up to float32 rounding and the F16 embedding.
 */
public final class GgufConverter {
    private GgufConverter() {}

    /** Types {@link #convert} can write. */
    public static final List<GgmlType> TYPES = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_K, GgmlType.Q6_K);

    /**
     * Converts and writes.
     *
     * @param weights       the source weights (views; read tile by tile)
     * @param vocab         the vocabulary arrays and special ids
     * @param type          requested type for matrices, one of {@link #TYPES}
     * @param name          {@code general.name}, e.g. {@code grok-1}
     * @param out           output file (or shard base name)
     * @param maxShardBytes split when tensor data exceeds this many bytes per file; 0 for one file
     * @param progress      progress callback (bytes written, total), or null
     * @return the files written
     * @throws IllegalArgumentException if the type is not writable, the vocabulary's size is not the model's, or a
     *                                  weight has a storage type that cannot be read
     * @throws IOException              if writing fails
     */
    public static List<Path> convert(GrokWeights weights, GgufVocab vocab, GgmlType type, String name, Path out,
                                     long maxShardBytes, GgufProgress progress) throws IOException {
        return convert(weights, vocab, type, name, out, maxShardBytes, progress, null);
    }

    /**
     * As {@link #convert(GrokWeights, GgufVocab, GgmlType, String, Path, long, GgufProgress)}, reading and quantizing
     * with every thread of {@code pool} (null: the calling thread alone); the bytes written do not depend on it.
     */
    public static List<Path> convert(GrokWeights weights, GgufVocab vocab, GgmlType type, String name, Path out,
                                     long maxShardBytes, GgufProgress progress, ThreadPool pool) throws IOException {
        return plan(weights, vocab, type, name).write(out, maxShardBytes, progress, pool);
    }

    /** A writer with all metadata and tensors declared (nothing read yet), for {@link #convert} or a dry run. */
    public static GgufWriter plan(GrokWeights weights, GgufVocab vocab, GgmlType type, String name) {
        if (!TYPES.contains(type)) {
            throw new IllegalArgumentException("cannot convert to " + type + "; supported: " + TYPES);
        }
        GrokConfig c = weights.config();
        if (vocab.tokens().length != c.vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + vocab.tokens().length
                    + " pieces but the model's vocabulary is " + c.vocabSize());
        }
        GgufWriter w = new GgufWriter();
        metadata(w, c, vocab, type, name);

        int d = c.dModel();
        // an untied model's embedding is only looked up: it takes the requested type like any other matrix
        GgmlType embType = weights.output() != null ? choose(type, d, 0) : embeddingType(type, d);
        w.addTensor("token_embd.weight", embType, new long[] {d, c.vocabSize()}, (first, count, buf) -> {
            for (int j = 0; j < count; j++) {
                weights.embedding().lookup((int) (first + j), buf, j * d);
            }
        });
        w.addTensor("output_norm.weight", GgmlType.F32, new long[] {d}, vector(weights.finalNorm()));
        if (weights.output() != null) {
            matrix(w, "output.weight", type, weights.output());
        }
        boolean grok1 = c.architecture().equals(Architecture.grok1());
        for (int i = 0; i < c.layers(); i++) {
            LayerWeights l = weights.layers().get(i);
            String p = "blk." + i + ".";
            w.addTensor(p + "attn_norm.weight", GgmlType.F32, new long[] {d}, vector(l.attnNorm()));
            matrix(w, p + "attn_q.weight", type, l.query());
            matrix(w, p + "attn_k.weight", type, l.key());
            matrix(w, p + "attn_v.weight", type, l.value());
            matrix(w, p + "attn_output.weight", type, l.attnOutput());
            w.addTensor(p + "attn_output_norm.weight", GgmlType.F32, new long[] {d}, vector(l.postAttnNorm()));
            w.addTensor(p + "ffn_norm.weight", GgmlType.F32, new long[] {d}, vector(l.preMoeNorm()));
            w.addTensor(p + "ffn_gate_inp.weight", GgmlType.F32, new long[] {d, c.experts()}, rows(l.router()));
            experts(w, p + "ffn_gate_exps.weight", type, l.gate());
            experts(w, p + "ffn_up_exps.weight", type, l.up());
            experts(w, p + "ffn_down_exps.weight", type, l.down());
            if (l.hasDenseMlp()) {
                matrix(w, p + "ffn_gate.weight", type, l.denseGate());
                matrix(w, p + "ffn_up.weight", type, l.denseUp());
                matrix(w, p + "ffn_down.weight", type, l.denseDown());
            }
            // llama.cpp: Grok-1's rms_norm_3 is layer_output_norm, Grok-2's post_moe_norm is post_ffw_norm
            String postMoe = grok1 ? "layer_output_norm.weight" : "post_ffw_norm.weight";
            w.addTensor(p + postMoe, GgmlType.F32, new long[] {d}, vector(l.postMoeNorm()));
        }
        return w;
    }

    /** {@code general.file_type} values (llama.cpp's {@code llama_ftype}) for the whole-file types. */
    private static int fileType(GgmlType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 7;
            case Q4_K -> 14; // all-Q4_K is closest to Q4_K_S
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException(t.toString());
        };
    }

    private static void metadata(GgufWriter w, GrokConfig c, GgufVocab v, GgmlType type, String name) {
        w.putString("general.architecture", "grok");
        w.putString("general.name", name);
        w.putU32("general.file_type", fileType(type));
        w.putU32("general.quantization_version", 2);
        w.putU32("grok.context_length", c.contextLength());
        w.putU32("grok.embedding_length", c.dModel());
        w.putU32("grok.block_count", c.layers());
        Architecture a = c.architecture();
        // llama.cpp's n_ff: the dense MLP's width when there is one (Grok-2), else the experts' (Grok-1)
        w.putU32("grok.feed_forward_length", a.residualDenseMlp() ? a.denseFfn() : c.expertFfn());
        w.putU32("grok.expert_feed_forward_length", c.expertFfn());
        w.putU32("grok.attention.head_count", c.queryHeads());
        w.putU32("grok.attention.head_count_kv", c.kvHeads());
        w.putU32("grok.attention.key_length", c.headDim());
        w.putU32("grok.attention.value_length", c.headDim());
        w.putU32("grok.rope.dimension_count", c.headDim());
        w.putF32("grok.rope.freq_base", (float) c.ropeTheta());
        w.putF32("grok.attention.layer_norm_rms_epsilon", (float) c.rmsEps());
        w.putU32("grok.expert_count", c.experts());
        w.putU32("grok.expert_used_count", c.expertsPerToken());
        w.putF32("grok.attention.output_scale", (float) c.attnOutputMultiplier());
        w.putF32("grok.embedding_scale", (float) c.embeddingMultiplier());
        w.putF32("grok.logit_scale", (float) c.outputMultiplier());
        w.putF32("grok.attn_logit_softcapping", (float) c.attnSoftcap());
        if (!a.equals(Architecture.grok1())) {
            w.putF32("grok.router_logit_softcapping", (float) a.routerSoftcap());
            if (a.finalSoftcap() > 0) {
                w.putF32("grok.final_logit_softcapping", (float) a.finalSoftcap());
            }
            if (a.attnTemperatureLength() > 0) {
                w.putU32("grok.attention.temperature_length", Math.round(a.attnTemperatureLength()));
            }
        }
        w.putString("tokenizer.ggml.model", v.model());
        if (v.pre() != null) {
            w.putString("tokenizer.ggml.pre", v.pre());
        }
        w.putArray("tokenizer.ggml.tokens", GgufValueType.STRING, v.tokens());
        if (!v.byteLevel()) { // llama.cpp writes no scores for byte-level BPE: the ids are the ranks
            w.putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, v.scores());
        }
        w.putArray("tokenizer.ggml.token_type", GgufValueType.INT32, v.tokenTypes());
        if (v.merges() != null) {
            w.putArray("tokenizer.ggml.merges", GgufValueType.STRING, v.merges());
        }
        putId(w, "tokenizer.ggml.bos_token_id", v.bosId());
        putId(w, "tokenizer.ggml.eos_token_id", v.eosId());
        putId(w, "tokenizer.ggml.unknown_token_id", v.unkId());
        putId(w, "tokenizer.ggml.padding_token_id", v.padId());
        w.putBool("tokenizer.ggml.add_bos_token", v.addBos());
        w.putBool("tokenizer.ggml.add_eos_token", false);
    }

    /** A special token id, left out when the vocabulary has none (-1). */
    private static void putId(GgufWriter w, String key, int id) {
        if (id >= 0) {
            w.putU32(key, id);
        }
    }

    /**
     * The type a matrix with input dimension {@code in} is written as: {@code requested}, or F16 when {@code in}
     * is not a multiple of its block or the source's scale groups ({@code groupRows} input rows each, 0 if the
     * source has none) are narrower than a block.
     */
    public static GgmlType choose(GgmlType requested, int in, int groupRows) {
        int bs = requested.blockSize();
        if (in % bs != 0 || (groupRows > 0 && groupRows < bs)) {
            return GgmlType.F16;
        }
        return requested;
    }

    /**
     * The type of {@code token_embd.weight} (also the tied output projection) for a requested type: F16 for Q8_0
     * (see the class comment), else as {@link #choose(GgmlType, int, int)}.
     */
    public static GgmlType embeddingType(GgmlType requested, int dModel) {
        return requested == GgmlType.Q8_0 ? GgmlType.F16 : choose(requested, dModel, 0);
    }

    /** The type {@link #convert} writes matrix {@code m} as. */
    public static GgmlType choose(GgmlType requested, WeightMatrix m) {
        int groupRows = m instanceof Int8GroupedMatrix q ? q.inputDim() / q.groups() : 0;
        return choose(requested, m.inputDim(), groupRows);
    }

    private static GgufWriter.RowSource vector(float[] v) {
        return (first, count, buf) -> System.arraycopy(v, 0, buf, 0, v.length);
    }

    private static void matrix(GgufWriter w, String name, GgmlType type, WeightMatrix m) {
        w.addTensor(name, choose(type, m), new long[] {m.inputDim(), m.outputDim()}, rows(m));
    }

    private static void experts(GgufWriter w, String name, GgmlType type, WeightMatrix[] e) {
        WeightMatrix m0 = e[0];
        int n = m0.outputDim();
        int k = m0.inputDim();
        for (WeightMatrix m : e) {
            if (m.inputDim() != k || m.outputDim() != n) {
                throw new IllegalArgumentException(name + ": experts differ in shape");
            }
        }
        w.addTensor(name, choose(type, m0), new long[] {k, n, e.length}, (first, count, buf) -> {
            // a tile may straddle experts: split it at the boundaries
            int done = 0;
            while (done < count) {
                long r = first + done;
                int ex = (int) (r / n);
                int col = (int) (r % n);
                int c = Math.min(count - done, n - col);
                copyRows(e[ex], col, c, buf, done * k);
                done += c;
            }
        });
    }

    /** GGUF rows of {@code m}: row {@code r} is output column {@code r} of the logical {@code [in, out]} weight. */
    static GgufWriter.RowSource rows(WeightMatrix m) {
        return (first, count, buf) -> copyRows(m, (int) first, count, buf, 0);
    }

    /**
     * Writes output columns {@code [c0, c0 + count)} of {@code m} as rows of {@code m.inputDim()} floats into
     * {@code buf[off...]}. Input-major sources are read along their rows (contiguous) and scattered into the tile.
     * Thread-safe: tiles are read by several threads at once (see {@link GgufWriter.RowSource}).
     */
    static void copyRows(WeightMatrix m, int c0, int count, float[] buf, int off) {
        int k = m.inputDim();
        switch (m) {
            case Int8GroupedMatrix q -> q.columnsAsRows(c0, count, buf, off);
            case F32Matrix f -> {
                for (int r = 0; r < k; r++) {
                    for (int j = 0; j < count; j++) {
                        buf[off + j * k + r] = f.get(r, c0 + j);
                    }
                }
            }
            case BF16Matrix b -> {
                for (int j = 0; j < count; j++) {
                    b.storedRow(c0 + j, buf, off + j * k);
                }
            }
            case GgufMatrix g -> {
                for (int j = 0; j < count; j++) {
                    g.dequantizeRow(c0 + j, buf, off + j * k);
                }
            }
            default -> throw new IllegalArgumentException("cannot read weights stored as " + m.typeName());
        }
    }
}
