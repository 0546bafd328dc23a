package grok1j.format.gguf;

import grok1j.format.ModelFile;
import grok1j.format.Prefetch;
import grok1j.format.TensorInfo;
import grok1j.model.Architecture;
import grok1j.model.Embedding;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.model.Partition;
import grok1j.tensor.GgmlDequant;
import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import grok1j.tensor.InterleavedQ4_KMatrix;
import grok1j.tensor.InterleavedQ6_KMatrix;
import grok1j.tensor.InterleavedQ8_0Matrix;
import grok1j.tensor.PreparedSlice;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Grok family model in GGUF ({@code general.architecture = "grok"}, spec §6): hyperparameters from the
 * {@code grok.*} keys, with the spec §6.1 defaults for keys older files lack; weights as {@link GgufMatrix} views
 * of the mapped file(s); experts sliced from the 3-D {@code blk.N.ffn_*_exps} tensors; the output projection tied
 * to {@code token_embd.weight} when {@code output.weight} is absent.
 *
 * <p>A Grok-2 file (dense {@code blk.N.ffn_gate} tensors beside the experts, or a {@code grok.final_logit_softcapping}
 * or {@code grok.attention.temperature_length} key) computes Grok-2 as the grok-2 spec §2 defines it (SGLang), not
 * as llama.cpp does (grok-2 spec §6): the top-2 weights are not renormalised, the router logits are capped at 30,
 * the attention temperature applies past {@code grok.attention.temperature_length}, RoPE is plain with
 * {@code grok.rope.freq_base} ({@code grok.rope.scaling.*} YaRN keys are ignored), GELU is the erf form, and the
 * final cap comes from {@code grok.final_logit_softcapping}.
 *
 * <p>GGUF stores {@code [out][in]} rows, i.e. ggml {@code ne = {in, out}}; each matrix is exposed as the logical
 * {@code [in, out]} weight of spec §2 without copying.
 */
public final class GgufModel implements ModelFile {
    /**
     * System property for {@link #repack(int, int)}: unset, the Q8_0, Q6_K and Q4_K expert matrices are repacked into
     * {@link InterleavedQ8_0Matrix}, {@link InterleavedQ6_KMatrix} and {@link InterleavedQ4_KMatrix} when the copy
     * fits in memory; {@code false} never repacks; {@code true} repacks without the memory check.
     */
    public static final String INTERLEAVE_PROPERTY = "grok1j.gguf.interleave";

    /** Of MemAvailable, the part the copy and the rest of the mapped file may take (the KV cache and scratch need room). */
    public static final double REPACK_FIT = 0.9;

    private final GgufFile file;
    private final GrokConfig config;
    private GrokWeights weights;
    /** The repacked experts' memory, or null. */
    private Arena repacked;
    /** The file bytes the repacked matrices were copied from, which the forward pass no longer reads. */
    private final List<MemorySegment> superseded = new ArrayList<>();
    private long copied;

    private GgufModel(GgufFile file, GrokConfig config, GrokWeights weights) {
        this.file = file;
        this.config = config;
        this.weights = weights;
    }

    /**
     * Opens a GGUF file (any shard of a split model) and builds the Grok weights as views of the mapped file.
     *
     * @throws IOException         if a file cannot be read
     * @throws GgufFormatException if the file is malformed, not architecture {@code grok}, lacks a required key or
     *                             tensor, has a tensor of the wrong shape, or uses an unsupported tensor type (the
     *                             message names the tensor and the type)
     */
    public static GgufModel open(Path path) throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            GrokConfig c = config(f);
            return new GgufModel(f, c, new Builder(f, c).weights());
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /**
     * The bytes {@link #repack(int, int)} would copy for rank {@code rank} of {@code ranks}: the repacked size of
     * the expert matrices (that rank's slices of them) it can repack; 0 when the machine's vectors or
     * {@link #INTERLEAVE_PROPERTY} rule it out, the model was repacked already, or it cannot be split over
     * {@code ranks} (which the forward pass reports).
     *
     * @throws IllegalArgumentException if {@link #INTERLEAVE_PROPERTY} is set to neither {@code true} nor {@code false}
     */
    public long repackBytes(int rank, int ranks) {
        long[] sizes = repackSizes(rank, ranks);
        return sizes[0] + sizes[2];
    }

    /**
     * {@code {expert copy, expert source, unembedding copy, unembedding rows}}: the bytes {@link #repack(int, int)}
     * would copy of that rank's experts, the bytes of the mapped file they replace, the bytes of its copy of the
     * unembedding, and the bytes of the unembedding (rank's slice) in the file's rows (all 0 as
     * {@link #repackBytes(int, int)} says; the last two 0 when the unembedding stays in the file's rows).
     */
    private long[] repackSizes(int rank, int ranks) {
        long[] none = {0, 0, 0, 0};
        if (repacked != null || interleaveSetting() == Boolean.FALSE || !InterleavedQ8_0Matrix.supported()) {
            return none;
        }
        long copy = 0, source = 0, table = 0, tableRows = 0;
        try {
            Partition p = Partition.of(config, rank, ranks);
            for (LayerWeights l : weights.layers()) {
                for (WeightMatrix[] views : List.of(views(l.gate(), p, false), views(l.up(), p, false), views(l.down(), p, true))) {
                    if (repackable(views)) {
                        for (WeightMatrix m : views) {
                            copy += copyBytes((GgufMatrix) m);
                            source += m.storedBytes();
                        }
                    }
                }
            }
            WeightMatrix u = unembeddingView(p);
            if (unembeddingRepackable(u)) {
                table = copyBytes((GgufMatrix) u);
                tableRows = u.storedBytes();
            }
        } catch (IllegalArgumentException e) {
            return none; // a split the model does not allow: the forward pass refuses it, naming the tensor
        }
        return new long[] {copy, source, table, tableRows};
    }

    /**
     * Refuses a bad {@link #INTERLEAVE_PROPERTY} now, before a command starts work that opening the model would
     * waste (bench's probes, serve's listening socket).
     *
     * @throws IllegalArgumentException if it is set to neither true nor false
     */
    public static void checkInterleaveSetting() {
        interleaveSetting();
    }

    /**
     * {@link #INTERLEAVE_PROPERTY}: null when unset, else true or false (in any case).
     *
     * @throws IllegalArgumentException for any other value
     */
    static Boolean interleaveSetting() {
        String setting = System.getProperty(INTERLEAVE_PROPERTY);
        if (setting == null) {
            return null;
        }
        if (setting.strip().equalsIgnoreCase("true") || setting.strip().equalsIgnoreCase("false")) {
            return Boolean.valueOf(setting.strip().equalsIgnoreCase("true"));
        }
        throw new IllegalArgumentException("-D" + INTERLEAVE_PROPERTY + " must be true or false, got \"" + setting + "\"");
    }

    /**
     * What {@link #repack(int, int, int, long)} would do for one rank: the bytes it would copy, (about) the bytes of
     * the rank's part of the mapped files it keeps reading, and whether {@code ranksOnHost} such ranks fit in
     * {@value #REPACK_FIT} of {@code memAvailable} together (the ranks of one host share its memory; each checks the
     * same MemAvailable, read before any of them copied).
     *
     * @param copyBytes   bytes the rank would copy (experts and unembedding), 0 if nothing can be repacked
     * @param sourceBytes bytes of the file ranges the experts' copy replaces (the copy is larger: Q6_K 34.5 bytes per
     *                    32 weights instead of 26.25, Q8_0 36 instead of 34, Q4_K 19 instead of 18)
     * @param fileBytes   bytes of the rank's part of the mapped files besides the ranges its copy replaces (a tied
     *                    unembedding stays among them: the embedding lookups keep reading its rows)
     * @param unembeddingCopyBytes the unembedding's part of {@code copyBytes} (0 when it stays in the file's rows)
     * @param unembeddingRowBytes  the bytes of the unembedding (rank's slice) in the file's rows when it is copied
     * @param forced     {@code -Dgrok1j.gguf.interleave=true}: copied without the memory check
     */
    public record RepackPlan(long copyBytes, long sourceBytes, long fileBytes, long unembeddingCopyBytes,
            long unembeddingRowBytes, int ranksOnHost, long memAvailable, boolean forced) {
        /** Bytes the ranks of this host would hold with the copies: {@code ranksOnHost * (copyBytes + fileBytes)}. */
        public long hostBytes() {
            return ranksOnHost * (copyBytes + fileBytes);
        }

        /** True if {@link #hostBytes()} fits in {@value #REPACK_FIT} of {@code memAvailable}. */
        public boolean fits() {
            return hostBytes() <= REPACK_FIT * memAvailable;
        }

        /** True if the copy is made: something to copy, and forced or it {@link #fits()}. */
        public boolean copies() {
            return copyBytes > 0 && (forced || fits());
        }
    }

    /**
     * The plan for rank {@code rank} of {@code ranks}, {@code ranksOnHost} of which run on this host with
     * {@code memAvailable} bytes available to them (see {@link RepackPlan}).
     *
     * @throws IllegalArgumentException if {@link #INTERLEAVE_PROPERTY} is set to neither true nor false
     */
    public RepackPlan repackPlan(int rank, int ranks, int ranksOnHost, long memAvailable) {
        long[] sizes = repackSizes(rank, ranks);
        long mapped = file.mappings().stream().mapToLong(MemorySegment::byteSize).sum();
        // an output projection is read only as its copy; a tied table stays mapped for the embedding lookups
        long replaced = sizes[1] + (weights.output() != null ? sizes[3] : 0);
        long rest = Math.max(0, mapped - replaced * ranks) / ranks;
        return new RepackPlan(sizes[0] + sizes[2], sizes[1], rest, sizes[2], sizes[3], Math.max(1, ranksOnHost),
                memAvailable, interleaveSetting() == Boolean.TRUE);
    }

    /**
     * True when {@link #INTERLEAVE_PROPERTY} is {@code false} and is all that keeps some experts in the file's rows
     * ({@link #repackTypes()} is not empty, and nothing was copied yet): for {@code doctor} to say so.
     *
     * @throws IllegalArgumentException if {@link #INTERLEAVE_PROPERTY} is set to neither true nor false
     */
    public boolean interleaveTurnedOff() {
        return interleaveSetting() == Boolean.FALSE && !repackTypes().isEmpty();
    }

    /**
     * True when {@link #repack(int, int)} would copy the unembedding (the tied table or the output projection) on this
     * machine, whatever {@link #INTERLEAVE_PROPERTY} says: Q6_K with 512-bit vectors, and not copied already.
     */
    public boolean repacksUnembedding() {
        return repacked == null && unembeddingRepackable(weights.unembedding());
    }

    /**
     * The file types of the matrices {@link #repack(int, int)} would copy on this machine, whatever
     * {@link #INTERLEAVE_PROPERTY} says (gate, up and down of every layer, each set of experts as a whole, as
     * {@code repack} takes them, then the unembedding), in the order met; empty when the model was copied already or
     * the machine's vectors take no copy.
     */
    public Set<GgmlType> repackTypes() {
        Set<GgmlType> types = new LinkedHashSet<>();
        if (repacked != null || !InterleavedQ8_0Matrix.supported()) {
            return types;
        }
        for (LayerWeights l : weights.layers()) {
            for (WeightMatrix[] experts : List.of(l.gate(), l.up(), l.down())) {
                if (repackable(experts)) {
                    for (WeightMatrix m : experts) {
                        types.add(((GgufMatrix) m).type());
                    }
                }
            }
        }
        WeightMatrix u = weights.unembedding();
        if (unembeddingRepackable(u)) {
            types.add(((GgufMatrix) u).type());
        }
        return types;
    }

    /** {@link RepackPlan#copyBytes()} of {@link #repackPlan} when the plan {@link RepackPlan#copies() copies}, else 0. */
    @Override
    public long repackBytes(int rank, int ranks, int ranksOnHost, long memAvailable) {
        RepackPlan plan = repackPlan(rank, ranks, ranksOnHost, memAvailable);
        return plan.copies() ? plan.copyBytes() : 0;
    }

    /** The unembedding's slice that rank's partition takes (the matrix itself for one rank). */
    private WeightMatrix unembeddingView(Partition p) {
        WeightMatrix u = weights.unembedding();
        return p.isWhole() ? u : u.columns(p.vocab0(), p.vocab0() + p.vocab());
    }

    /** The slices of {@code experts} that rank's partition takes (the matrices themselves for one rank). */
    private static WeightMatrix[] views(WeightMatrix[] experts, Partition p, boolean byRows) {
        if (p.isWhole()) {
            return experts;
        }
        int from = p.ffn0(), to = p.ffn0() + p.ffn();
        return Arrays.stream(experts).map(m -> byRows ? m.rows(from, to) : m.columns(from, to)).toArray(WeightMatrix[]::new);
    }

    private static boolean repackable(WeightMatrix[] experts) {
        return Arrays.stream(experts).allMatch(m -> m instanceof GgufMatrix g && (InterleavedQ8_0Matrix.canRepack(g)
                || InterleavedQ6_KMatrix.canRepack(g) || InterleavedQ4_KMatrix.canRepack(g)));
    }

    /**
     * Whether the unembedding {@code u} is copied at open too: Q6_K only. Its file-layout kernel runs at about half
     * the probe while the unpacked copy streams at it (2-layer Q6_K file, alternating runs: 16.5-18.3 ms against
     * 30.1-54.3 for the 660 MB tied table); Q8_0 and Q4_K rows decode about as fast as their copies, and with a Q4_K
     * table copied the layers ran slower (28.6-37.8 ms against 23.0-25.8), so those stay in the file's rows.
     */
    private static boolean unembeddingRepackable(WeightMatrix u) {
        return u instanceof GgufMatrix g && InterleavedQ6_KMatrix.canRepack(g);
    }

    /** Bytes of the decode layout a repackable {@code m} is copied into. */
    private static long copyBytes(GgufMatrix m) {
        return switch (m.type()) {
            case Q6_K -> InterleavedQ6_KMatrix.storedBytes(m);
            case Q4_K -> InterleavedQ4_KMatrix.storedBytes(m);
            default -> InterleavedQ8_0Matrix.storedBytes(m);
        };
    }

    /** The copy of a repackable {@code m} in its decode layout, in memory of {@code arena}. */
    private static WeightMatrix copy(GgufMatrix m, Arena arena) {
        return switch (m.type()) {
            case Q6_K -> InterleavedQ6_KMatrix.repack(m, arena);
            case Q4_K -> InterleavedQ4_KMatrix.repack(m, arena);
            default -> InterleavedQ8_0Matrix.repack(m, arena);
        };
    }

    /**
     * Copies the Q8_0, Q6_K and Q4_K expert matrices, or the slices of them that rank {@code rank} of a tensor-parallel
     * job takes, into {@link InterleavedQ8_0Matrix} (groups of 32 rows stored position by position, 36 bytes per 32
     * weights instead of 34), {@link InterleavedQ6_KMatrix} (the same with one byte per weight and its scales, 34.5
     * bytes per 32 weights instead of 26.25; 512-bit vectors only) and {@link InterleavedQ4_KMatrix} (four bits per
     * weight, 19 bytes per 32 weights instead of 18) in memory of this model's own, where decode and prefill run faster
     * than on the file's rows (Q8_0 with 256-bit vectors: prefill only), when the copies and (about) the rest of the
     * rank's part of the mapped files, times the
     * {@code ranksOnHost} ranks of this host, fit in {@value #REPACK_FIT} of {@code memAvailable} ({@link RepackPlan};
     * a model larger than RAM keeps reading its file). Afterwards
     * {@link #weights()} holds the copies (a rank's as {@link PreparedSlice}s, which its {@link Partition} cuts out),
     * and for one rank {@link #mappings()} leaves out the file ranges they were made from. Call before the weights are
     * used: a forward pass built on the earlier weights keeps the file's matrices.
     *
     * @return the bytes copied, 0 if nothing was (see {@link #repackBytes})
     * @throws IllegalArgumentException if {@link #INTERLEAVE_PROPERTY} is set to neither true nor false
     */
    @Override
    public long repack(int rank, int ranks, int ranksOnHost, long memAvailable) {
        RepackPlan plan = repackPlan(rank, ranks, ranksOnHost, memAvailable);
        if (!plan.copies()) {
            return 0;
        }
        long bytes = plan.copyBytes();
        Partition p = Partition.of(config, rank, ranks);
        Arena arena = Arena.ofShared();
        try {
            List<LayerWeights> layers = new ArrayList<>();
            for (LayerWeights l : weights.layers()) {
                layers.add(new LayerWeights(l.attnNorm(), l.query(), l.key(), l.value(), l.attnOutput(),
                        l.postAttnNorm(), l.preMoeNorm(), l.router(), repack(l.gate(), p, false, arena),
                        repack(l.up(), p, false, arena), repack(l.down(), p, true, arena), l.postMoeNorm(),
                        l.denseGate(), l.denseUp(), l.denseDown()));
            }
            WeightMatrix u = repackUnembedding(p, arena);
            Embedding embedding = weights.embedding();
            WeightMatrix output = weights.output();
            if (u != null && output != null) {
                output = u;
            } else if (u != null) {
                // the tied table: lookups keep reading the file's rows, the unembedding reads the copy
                Embedding table = embedding;
                embedding = new Embedding() {
                    @Override
                    public void lookup(int token, float[] out, int off) {
                        table.lookup(token, out, off);
                    }

                    @Override
                    public WeightMatrix unembedding() {
                        return u;
                    }
                };
            }
            weights = new GrokWeights(weights.config(), embedding, weights.finalNorm(), List.copyOf(layers), output);
        } catch (RuntimeException | Error e) {
            superseded.clear();
            arena.close();
            throw e;
        }
        repacked = arena;
        copied = bytes;
        return bytes;
    }

    /**
     * The unembedding's copy (a rank's slice of it as a {@link PreparedSlice}), or null when it stays in the file's
     * rows. A tied table is neither released nor left out of the read-in: the embedding lookup reads it.
     */
    private WeightMatrix repackUnembedding(Partition p, Arena arena) {
        WeightMatrix view = unembeddingView(p);
        if (!unembeddingRepackable(view)) {
            return null;
        }
        GgufMatrix g = (GgufMatrix) view;
        WeightMatrix copy = copy(g, arena);
        if (!p.isWhole()) {
            return new PreparedSlice(weights.unembedding(), false, p.vocab0(), p.vocab0() + p.vocab(), copy);
        }
        if (weights.output() != null) {
            superseded.add(g.data());
            Prefetch.release(g.data());
        }
        return copy;
    }

    private WeightMatrix[] repack(WeightMatrix[] experts, Partition p, boolean byRows, Arena arena) {
        WeightMatrix[] views = views(experts, p, byRows);
        if (!repackable(views)) {
            return experts;
        }
        WeightMatrix[] copies = new WeightMatrix[experts.length];
        for (int e = 0; e < experts.length; e++) {
            GgufMatrix g = (GgufMatrix) views[e];
            WeightMatrix copy = copy(g, arena);
            if (p.isWhole()) {
                copies[e] = copy;
                superseded.add(g.data());
            } else {
                copies[e] = new PreparedSlice(experts[e], byRows, p.ffn0(), p.ffn0() + p.ffn(), copy);
            }
            // out of this process's memory (whole pages of the view's span only: no other matrix reads them), so the
            // page cache may take them back
            Prefetch.release(g.data());
        }
        return copies;
    }

    /** Bytes of the copies {@link #repack(int, int)} made (0 if none): memory the model holds beside its mapped file. */
    @Override
    public long copiedBytes() {
        return copied;
    }

    /**
     * Reads the Grok hyperparameters from {@code grok.*} keys. Required: {@code embedding_length},
     * {@code block_count}, {@code attention.head_count}. Defaults: {@code head_count_kv} = head count,
     * {@code attention.key_length} = embedding length / head count, expert FFN from
     * {@code expert_feed_forward_length}, else {@code feed_forward_length}, else the {@code ffn_gate_exps} shape;
     * {@code expert_count} 8, {@code expert_used_count} 2, {@code context_length} 8192, {@code rope.freq_base} 10000,
     * {@code attention.layer_norm_rms_epsilon} 1e-5, {@code embedding_scale} 78.38367176906169,
     * {@code logit_scale} 0.5773502691896257, {@code attention.output_scale} 0.08838834764831845,
     * {@code attn_logit_softcapping} 30 (spec §6.1, llama.cpp's defaults). The vocabulary size is the row count of
     * {@code token_embd.weight}; special ids come from {@code tokenizer.ggml.*_token_id} (pad 0, bos 1, eos 2).
     *
     * @throws GgufFormatException naming the key or tensor at fault
     */
    public static GrokConfig config(GgufFile f) {
        String arch = f.getString("general.architecture", null);
        if (!"grok".equals(arch)) {
            throw new GgufFormatException(f.path() + ": general.architecture is " + (arch == null ? "missing" : "\"" + arch + "\"")
                    + ", expected \"grok\"");
        }
        GrokConfig d = GrokConfig.grok1();
        int dModel = required(f, "grok.embedding_length");
        int layers = required(f, "grok.block_count");
        int heads = required(f, "grok.attention.head_count");
        int kvHeads = intKey(f, "grok.attention.head_count_kv", heads);
        int headDim = intKey(f, "grok.attention.key_length", heads > 0 ? dModel / heads : 0);
        GgufTensor embd = f.tensor("token_embd.weight");
        if (embd == null || embd.ne().length != 2) {
            throw new GgufFormatException(f.path() + ": missing 2-D tensor token_embd.weight");
        }
        GgufTensor denseGate = f.tensor("blk.0.ffn_gate.weight");
        boolean grok2 = denseGate != null || f.get("grok.final_logit_softcapping") != null
                || f.get("grok.attention.temperature_length") != null;
        // Grok-2's grok.feed_forward_length is the dense MLP's width (llama.cpp's n_ff), not the experts'
        int ffn = intKey(f, "grok.expert_feed_forward_length", grok2 ? -1 : intKey(f, "grok.feed_forward_length", -1));
        if (ffn < 0) {
            GgufTensor gate = f.tensor("blk.0.ffn_gate_exps.weight");
            if (gate == null || gate.ne().length != 3) {
                throw new GgufFormatException(f.path() + ": missing metadata grok.expert_feed_forward_length");
            }
            ffn = toInt(f, "blk.0.ffn_gate_exps.weight", gate.ne()[1]);
        }
        int dense = !grok2 || denseGate == null ? 0 : denseGate.ne().length == 2
                ? toInt(f, "blk.0.ffn_gate.weight", denseGate.ne()[1]) : intKey(f, "grok.feed_forward_length", 0);
        try {
            Architecture family = !grok2 ? Architecture.grok1() : Architecture.grok2(
                    number(f, "grok.attention.temperature_length", -1), number(f, "grok.final_logit_softcapping", 0), dense);
            return new GrokConfig(toInt(f, "token_embd.weight", embd.ne()[1]), dModel, layers, heads, kvHeads, headDim, ffn,
                    intKey(f, "grok.expert_count", d.experts()),
                    intKey(f, "grok.expert_used_count", d.expertsPerToken()),
                    intKey(f, "grok.context_length", d.contextLength()),
                    number(f, "grok.rope.freq_base", d.ropeTheta()),
                    number(f, "grok.attention.layer_norm_rms_epsilon", d.rmsEps()),
                    number(f, "grok.embedding_scale", d.embeddingMultiplier()),
                    number(f, "grok.logit_scale", d.outputMultiplier()),
                    number(f, "grok.attention.output_scale", d.attnOutputMultiplier()),
                    number(f, "grok.attn_logit_softcapping", d.attnSoftcap()),
                    // Grok-2 has no BOS and masks no padding: ids only when the file names them
                    intKey(f, "tokenizer.ggml.padding_token_id", grok2 ? -1 : d.padId()),
                    intKey(f, "tokenizer.ggml.bos_token_id", grok2 ? -1 : d.bosId()),
                    intKey(f, "tokenizer.ggml.eos_token_id", d.eosId()),
                    family);
        } catch (IllegalArgumentException e) {
            throw new GgufFormatException(f.path() + ": invalid hyperparameters: " + e.getMessage());
        }
    }

    /**
     * A numeric key; a FLOAT32 value is taken as the decimal it was written from ({@code 1e-5}, not the widened
     * {@code 9.999999747378752E-6}), which is the same float, so that {@code inspect} and logs show the nominal values.
     */
    private static double number(GgufFile f, String key, double dflt) {
        return f.get(key) instanceof Float v ? Double.parseDouble(v.toString()) : f.getDouble(key, dflt);
    }

    private static int required(GgufFile f, String key) {
        if (f.get(key) == null) {
            throw new GgufFormatException(f.path() + ": missing metadata " + key);
        }
        return intKey(f, key, 0);
    }

    private static int intKey(GgufFile f, String key, int dflt) {
        long v = f.getLong(key, dflt);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new GgufFormatException(f.path() + ": metadata " + key + " = " + v + " is out of range");
        }
        return (int) v;
    }

    private static int toInt(GgufFile f, String tensor, long v) {
        if (v > Integer.MAX_VALUE) {
            throw GgufFormatException.tensor(f.path(), tensor, "dimension " + v + " is too large");
        }
        return (int) v;
    }

    /** Builds the weights, checking every tensor's presence, shape and type against the config. */
    private static final class Builder {
        private final GgufFile f;
        private final GrokConfig c;

        Builder(GgufFile f, GrokConfig c) {
            this.f = f;
            this.c = c;
        }

        GgufTensor tensor(String name, long... ne) {
            GgufTensor t = f.tensor(name);
            if (t == null) {
                throw new GgufFormatException(f.path() + ": missing tensor " + name);
            }
            if (!Arrays.equals(t.ne(), ne)) {
                throw GgufFormatException.tensor(t.file(), name, "shape (ggml ne) " + Arrays.toString(t.ne())
                        + ", expected " + Arrays.toString(ne));
            }
            if (!t.type().supported()) {
                throw GgufFormatException.tensor(t.file(), name, "type " + t.type() + " is not supported (supported: "
                        + "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
            }
            return t;
        }

        GgufMatrix matrix(String name, int in, int out) {
            GgufTensor t = tensor(name, in, out);
            return new GgufMatrix(t.type(), t.data(), in, out);
        }

        float[] norm(String name) {
            GgufTensor t = tensor(name, c.dModel());
            float[] v = new float[c.dModel()];
            GgmlDequant.dequantize(t.type(), t.data(), 0, v, 0, v.length);
            return v;
        }

        /** The per-expert {@code [in, out]} matrices of a {@code {in, out, experts}} tensor: contiguous slices. */
        WeightMatrix[] experts(String name, int in, int out) {
            GgufTensor t = tensor(name, in, out, c.experts());
            long bytes = t.data().byteSize() / c.experts();
            WeightMatrix[] m = new WeightMatrix[c.experts()];
            for (int e = 0; e < m.length; e++) {
                m[e] = new GgufMatrix(t.type(), t.data().asSlice(e * bytes, bytes), in, out);
            }
            return m;
        }

        GrokWeights weights() {
            int d = c.dModel();
            int q = c.queryHeads() * c.headDim();
            int kv = c.kvHeads() * c.headDim();
            int ffn = c.expertFfn();
            GgufMatrix embd = matrix("token_embd.weight", d, c.vocabSize());
            boolean untied = f.tensor("output.weight") != null;
            GgufMatrix output = untied ? matrix("output.weight", d, c.vocabSize()) : embd;
            int dense = c.architecture().denseFfn();
            List<LayerWeights> layers = new ArrayList<>(c.layers());
            for (int i = 0; i < c.layers(); i++) {
                String p = "blk." + i + ".";
                String postMoe = f.tensor(p + "layer_output_norm.weight") == null && f.tensor(p + "post_ffw_norm.weight") != null
                        ? p + "post_ffw_norm.weight" : p + "layer_output_norm.weight";
                layers.add(new LayerWeights(
                        norm(p + "attn_norm.weight"),
                        matrix(p + "attn_q.weight", d, q),
                        matrix(p + "attn_k.weight", d, kv),
                        matrix(p + "attn_v.weight", d, kv),
                        matrix(p + "attn_output.weight", q, d),
                        norm(p + "attn_output_norm.weight"),
                        norm(p + "ffn_norm.weight"),
                        matrix(p + "ffn_gate_inp.weight", d, c.experts()),
                        experts(p + "ffn_gate_exps.weight", d, ffn),
                        experts(p + "ffn_up_exps.weight", d, ffn),
                        experts(p + "ffn_down_exps.weight", ffn, d),
                        norm(postMoe),
                        dense > 0 ? matrix(p + "ffn_gate.weight", d, dense) : null,
                        dense > 0 ? matrix(p + "ffn_up.weight", d, dense) : null,
                        dense > 0 ? matrix(p + "ffn_down.weight", dense, d) : null));
            }
            boolean grok1 = c.architecture().equals(Architecture.grok1());
            return new GrokWeights(c, new GgufEmbedding(embd, output), norm("output_norm.weight"), List.copyOf(layers),
                    untied && !grok1 ? output : null);
        }
    }

    /** The tied embedding: lookup dequantizes one row of {@code token_embd}; the unembedding is {@code output} or it. */
    private record GgufEmbedding(GgufMatrix table, GgufMatrix output) implements Embedding {
        @Override
        public void lookup(int token, float[] out, int off) {
            if (token < 0 || token >= table.outputDim()) {
                throw new IndexOutOfBoundsException("token id " + token + " outside the vocabulary of " + table.outputDim());
            }
            table.dequantizeRow(token, out, off);
        }

        @Override
        public WeightMatrix unembedding() {
            return output;
        }
    }

    /** The underlying file (metadata, tensors, shards). */
    public GgufFile file() {
        return file;
    }

    /** The hyperparameters (also {@code weights().config()}). */
    public GrokConfig config() {
        return config;
    }

    /** Whether the file has its own {@code output.weight} (false: tied to {@code token_embd.weight}). */
    public boolean untiedOutput() {
        return file.tensor("output.weight") != null;
    }

    /**
     * The vocabulary arrays ({@code tokenizer.ggml.tokens/scores/token_type} and special ids), for building the
     * SentencePiece-exact tokenizer. Missing scores default to 0, missing types to 1 (normal).
     *
     * @throws GgufFormatException if {@code tokenizer.ggml.tokens} is missing or the arrays disagree in length
     */
    public GgufVocab tokenizerPieces() {
        return vocabulary(file, config.bosId(), config.eosId(), config.padId());
    }

    /**
     * The vocabulary arrays of {@code file} with the given special ids (the unknown id and the BOS flag come from
     * the file); what {@link #tokenizerPieces()} returns.
     *
     * @throws GgufFormatException if {@code tokenizer.ggml.tokens} is missing or the arrays disagree in length
     */
    static GgufVocab vocabulary(GgufFile file, int bosId, int eosId, int padId) {
        GgufArray tokens = file.getArray("tokenizer.ggml.tokens");
        if (tokens == null || tokens.elementType() != GgufValueType.STRING) {
            throw new GgufFormatException(file.path() + ": missing string array tokenizer.ggml.tokens");
        }
        String[] t = tokens.toStringArray();
        String model = file.getString("tokenizer.ggml.model", "llama");
        boolean byteLevel = ByteLevelVocab.MODEL.equals(model);
        GgufArray s = file.getArray("tokenizer.ggml.scores");
        GgufArray ty = file.getArray("tokenizer.ggml.token_type");
        float[] scores = s == null ? new float[t.length] : s.toFloatArray();
        int[] types = ty == null ? filled(t.length, 1) : ty.toIntArray();
        if (scores.length != t.length || types.length != t.length) {
            throw new GgufFormatException(file.path() + ": tokenizer arrays differ in length: " + t.length + " tokens, "
                    + scores.length + " scores, " + types.length + " token types");
        }
        GgufArray merges = file.getArray("tokenizer.ggml.merges");
        return new GgufVocab(model, file.getString("tokenizer.ggml.pre", null), t, scores, types,
                merges == null ? null : merges.toStringArray(), bosId, eosId,
                (int) file.getLong("tokenizer.ggml.unknown_token_id", byteLevel ? -1 : 3), padId,
                file.getBoolean("tokenizer.ggml.add_bos_token", false));
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        Arrays.fill(a, v);
        return a;
    }

    @Override
    public GrokWeights weights() {
        return weights;
    }

    @Override
    public List<TensorInfo> tensors() {
        return file.tensors().stream().map(GgufTensor::info).toList();
    }

    /**
     * {@code format}, {@code files}, {@code alignment}, then every metadata key with its value (arrays abbreviated,
     * control characters escaped so that each entry is one line), then {@code tokenizer}.
     */
    @Override
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "GGUF v" + file.version());
        m.put("files", file.files().size() == 1 ? file.files().get(0).getFileName().toString()
                : file.files().size() + " shards: " + file.files().stream().map(p -> p.getFileName().toString()).toList());
        m.put("alignment", Integer.toString(file.alignment()));
        for (Map.Entry<String, Object> e : file.metadata().entrySet()) {
            m.put(e.getKey(), e.getValue() instanceof String v ? GgufArray.escape(v) : String.valueOf(e.getValue()));
        }
        GgufArray tokens = file.getArray("tokenizer.ggml.tokens");
        boolean byteLevel = ByteLevelVocab.MODEL.equals(file.getString("tokenizer.ggml.model", null));
        m.put("tokenizer", tokens == null ? "none (no tokenizer.ggml.tokens; pass --tokenizer PATH)"
                : byteLevel ? "embedded byte-level vocabulary of " + tokens.length() + " tokens (tokenized as tiktoken does)"
                : "embedded vocabulary of " + tokens.length() + " pieces (tokenized as SentencePiece does)");
        if (!config.architecture().equals(Architecture.grok1())) {
            m.put("semantics", "Grok-2 as SGLang computes it (top-2 not renormalised, router cap 30, attention "
                    + "temperature, plain RoPE, erf GELU): not llama.cpp's function for the same file");
        }
        return Collections.unmodifiableMap(m);
    }

    @Override
    public Path location() {
        return file.path();
    }

    /** GGUF files carry their vocabulary ({@link #tokenizerPieces()}), so there is no separate tokenizer file. */
    @Override
    public Path tokenizerPath() {
        return null;
    }

    /** The mapped shards, less the ranges {@link #repack(int, int)} copied (no longer read): what is worth reading in. */
    @Override
    public List<MemorySegment> mappings() {
        if (superseded.isEmpty()) {
            return file.mappings();
        }
        List<MemorySegment> parts = new ArrayList<>();
        for (MemorySegment mapping : file.mappings()) {
            long at = 0;
            List<MemorySegment> inside = superseded.stream()
                    .filter(s -> s.address() >= mapping.address() && s.address() < mapping.address() + mapping.byteSize())
                    .sorted(java.util.Comparator.comparingLong(MemorySegment::address)).toList();
            for (MemorySegment s : inside) {
                long from = s.address() - mapping.address();
                if (from > at) {
                    parts.add(mapping.asSlice(at, from - at));
                }
                at = Math.max(at, from + s.byteSize());
            }
            if (at < mapping.byteSize()) {
                parts.add(mapping.asSlice(at));
            }
        }
        return parts;
    }

    @Override
    public void close() {
        file.close();
        if (repacked != null) {
            repacked.close();
        }
    }
}
