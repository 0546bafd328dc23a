package grok1j.format.safetensors;

import grok1j.format.Json;
import grok1j.format.ModelFormatException;
import grok1j.format.TensorInfo;
import grok1j.tensor.BF16Matrix;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Grok-2 release folder opened in place (grok-2 spec §3): {@code config.json} and the
 * {@code pytorch_model-NNNNN-TP-common.safetensors} / {@code pytorch_model-NNNNN-TP-KKK.safetensors} set, every file
 * memory-mapped into one shared {@link Arena}. Tensors are found by name from the headers; a file's rank comes only
 * from its {@code -TP-KKK} suffix. An expert weight is a {@link SplitTensor}: the R rank slices as views.
 *
 * <p>Opening checks, each failure one line naming the file and tensor: every file's safetensors validations
 * ({@link SafetensorsFile}); every rank 0..R-1 present for each split file (a missing {@code -TP-00K} file is named);
 * no name twice among the common files or within one rank's files; each split name in every rank with one shape and
 * dtype, {@code R·s = moe_intermediate_size} on its axis and {@code hidden_size} on the other; every tensor the
 * config implies present with its expected shape ({@code [out, in]}; k/v included, never transposed) and a BF16 or
 * F32 dtype. Unknown tensors and {@code .safetensors} files matching neither name pattern are ignored with a
 * warning ({@link #warnings()}).
 *
 * <p>Thread-safety: immutable after {@link #open}; the views may be read from any thread until {@link #close}.
 */
public final class Grok2Checkpoint implements AutoCloseable {
    /** {@code pytorch_model-NNNNN-TP-common.safetensors} or {@code pytorch_model-NNNNN-TP-KKK.safetensors}. */
    public static final Pattern FILE_NAME = Pattern.compile("pytorch_model-(\\d{5})-TP-(common|\\d{3})\\.safetensors");
    static final String CONFIG = "config.json";
    static final String TOKENIZER = "tokenizer.tok.json";

    private final Path folder;
    private final Grok2Config config;
    private final Arena arena;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsTensor> common;
    private final Map<String, SplitTensor> split;
    private final int rankCount;
    private final List<String> warnings;

    private Grok2Checkpoint(Path folder, Grok2Config config, Arena arena, List<SafetensorsFile> files,
                            Map<String, SafetensorsTensor> common, Map<String, SplitTensor> split, int rankCount,
                            List<String> warnings) {
        this.folder = folder;
        this.config = config;
        this.arena = arena;
        this.files = files;
        this.common = common;
        this.split = split;
        this.rankCount = rankCount;
        this.warnings = warnings;
    }

    /** True if {@code folder} is a directory holding at least one file named like the Grok-2 release's. */
    public static boolean isGrok2Folder(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) {
            return false;
        }
        try (Stream<Path> list = Files.list(folder)) {
            return list.anyMatch(p -> FILE_NAME.matcher(p.getFileName().toString()).matches());
        }
    }

    /** The name of expert weight {@code w} ("w1" gate, "w2" down, "w3" up) of one layer and expert. */
    public static String expertName(int layer, int expert, String w) {
        return "model.layers." + layer + ".block_sparse_moe.experts." + expert + "." + w + ".weight";
    }

    /**
     * Opens a Grok-2 folder.
     *
     * @throws ModelFormatException one line naming the file (and tensor) at fault
     * @throws IOException          if a file cannot be read or mapped
     */
    public static Grok2Checkpoint open(Path folder) throws IOException {
        Path dir = folder.toAbsolutePath().normalize();
        if (!Files.exists(dir)) {
            throw new NoSuchFileException(dir.toString());
        }
        if (!Files.isDirectory(dir)) {
            throw new ModelFormatException(dir + ": not a folder (a Grok-2 model is the folder holding config.json)");
        }
        Path configFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw new ModelFormatException(configFile + ": missing (a Grok-2 folder has config.json beside its safetensors files)");
        }
        Grok2Config config = readConfig(configFile);
        List<String> warnings = new ArrayList<>(config.warnings());
        // NN -> file for the common files; NN -> (rank -> file) for the split ones
        TreeMap<String, Path> commonFiles = new TreeMap<>();
        TreeMap<String, TreeMap<Integer, Path>> rankFiles = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.sorted().toList()) {
                String name = p.getFileName().toString();
                Matcher m = FILE_NAME.matcher(name);
                if (m.matches()) {
                    if (m.group(2).equals("common")) {
                        commonFiles.put(m.group(1), p);
                    } else {
                        rankFiles.computeIfAbsent(m.group(1), k -> new TreeMap<>()).put(Integer.parseInt(m.group(2)), p);
                    }
                } else if (name.endsWith(".safetensors")) {
                    warnings.add(p + ": ignored (not named pytorch_model-NNNNN-TP-common|KKK.safetensors)");
                }
            }
        }
        if (commonFiles.isEmpty() && rankFiles.isEmpty()) {
            throw new ModelFormatException(dir + ": no pytorch_model-NNNNN-TP-*.safetensors files");
        }
        int ranks = rankFiles.values().stream().mapToInt(TreeMap::lastKey).max().orElse(-1) + 1;
        for (var e : rankFiles.entrySet()) {
            for (int k = 0; k < ranks; k++) {
                if (!e.getValue().containsKey(k)) {
                    throw missingRank(dir, e.getKey(), k, ranks);
                }
            }
        }
        Arena arena = Arena.ofShared();
        try {
            List<SafetensorsFile> files = new ArrayList<>();
            Map<String, SafetensorsTensor> common = new LinkedHashMap<>();
            for (Path p : commonFiles.values()) {
                SafetensorsFile f = SafetensorsFile.open(p, arena);
                files.add(f);
                for (SafetensorsTensor t : f.tensors()) {
                    SafetensorsTensor prev = common.put(t.name(), t);
                    if (prev != null) {
                        throw SafetensorsFile.tensorError(p, t.name(), "duplicate name (also in " + prev.file().getFileName() + ")");
                    }
                }
            }
            List<Map<String, SafetensorsTensor>> byRank = new ArrayList<>();
            for (int k = 0; k < ranks; k++) {
                Map<String, SafetensorsTensor> mine = new LinkedHashMap<>();
                for (TreeMap<Integer, Path> group : rankFiles.values()) {
                    Path p = group.get(k);
                    SafetensorsFile f = SafetensorsFile.open(p, arena);
                    files.add(f);
                    for (SafetensorsTensor t : f.tensors()) {
                        SafetensorsTensor prev = mine.put(t.name(), t);
                        if (prev != null) {
                            throw SafetensorsFile.tensorError(p, t.name(), "duplicate name within rank " + k
                                    + " (also in " + prev.file().getFileName() + ")");
                        }
                        if (common.containsKey(t.name())) {
                            throw SafetensorsFile.tensorError(p, t.name(), "also in the common file "
                                    + common.get(t.name()).file().getFileName());
                        }
                    }
                }
                byRank.add(mine);
            }
            Map<String, SplitTensor> split = joinRanks(dir, byRank, rankFiles, config, warnings);
            checkModel(config, common, split, warnings);
            return new Grok2Checkpoint(dir, config, arena, List.copyOf(files), Collections.unmodifiableMap(common),
                    Collections.unmodifiableMap(split), ranks, List.copyOf(warnings));
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static Grok2Config readConfig(Path file) throws IOException {
        Object root;
        try {
            root = Json.parse(Files.readString(file));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage());
        } catch (java.nio.charset.MalformedInputException e) {
            throw new ModelFormatException(file + ": not valid UTF-8");
        }
        if (!(root instanceof Map<?, ?> m)) {
            throw new ModelFormatException(file + ": expected a JSON object");
        }
        return Grok2Config.fromJson(file, m);
    }

    private static ModelFormatException missingRank(Path dir, String nn, int rank, int ranks) {
        return new ModelFormatException(dir.resolve(String.format("pytorch_model-%s-TP-%03d.safetensors", nn, rank))
                + ": missing (rank " + rank + " of " + ranks + " of the tensor-parallel split)");
    }

    /** Every name of rank 0 must be in every rank with one shape and dtype; experts become split tensors. */
    private static Map<String, SplitTensor> joinRanks(Path dir, List<Map<String, SafetensorsTensor>> byRank,
                                                      TreeMap<String, TreeMap<Integer, Path>> rankFiles,
                                                      Grok2Config config, List<String> warnings)
            throws ModelFormatException {
        Map<String, SplitTensor> split = new LinkedHashMap<>();
        if (byRank.isEmpty()) {
            return split;
        }
        TreeSet<String> names = new TreeSet<>();
        byRank.forEach(m -> names.addAll(m.keySet()));
        for (String name : names) {
            List<SafetensorsTensor> slices = new ArrayList<>();
            for (int k = 0; k < byRank.size(); k++) {
                SafetensorsTensor t = byRank.get(k).get(name);
                if (t == null) {
                    SafetensorsTensor other = byRank.stream().map(m -> m.get(name)).filter(x -> x != null).findFirst().get();
                    throw SafetensorsFile.tensorError(other.file(), name, "no rank " + k + " slice in the rank-"
                            + k + " files (each split tensor needs all " + byRank.size() + " ranks)");
                }
                if (!slices.isEmpty() && (!Arrays.equals(t.shape(), slices.get(0).shape())
                        || t.dtype() != slices.get(0).dtype())) {
                    throw SafetensorsFile.tensorError(t.file(), name, "rank " + k + " slice is " + t.dtype()
                            + Arrays.toString(t.shape()) + " but rank 0's is " + slices.get(0).dtype()
                            + Arrays.toString(slices.get(0).shape()));
                }
                slices.add(t);
            }
            int axis = name.endsWith(".w2.weight") ? 1 : name.endsWith(".w1.weight") || name.endsWith(".w3.weight") ? 0 : -1;
            if (axis < 0 || !name.contains(".block_sparse_moe.experts.")) {
                warnings.add(slices.get(0).file() + ": " + name + ": unknown split tensor, ignored");
                continue;
            }
            SafetensorsTensor first = slices.get(0);
            long[] shape = first.shape();
            if (shape.length != 2 || shape[1 - axis] != config.hiddenSize()) {
                throw SafetensorsFile.tensorError(first.file(), name, "rank slice shape " + Arrays.toString(shape)
                        + ", expected " + (axis == 0 ? "[s, " + config.hiddenSize() + "]" : "[" + config.hiddenSize() + ", s]")
                        + " (hidden_size " + config.hiddenSize() + ")");
            }
            long s = shape[axis];
            long f = config.expertFfn();
            if (s > 0 && f % s == 0 && f / s > byRank.size()) {
                // fewer rank files than the slices need: the first absent rank's file is the one to name
                String nn = rankFiles.entrySet().stream().filter(e -> e.getValue().get(0).equals(first.file()))
                        .findFirst().get().getKey();
                throw missingRank(dir, nn, byRank.size(), (int) (f / s));
            }
            if (s * byRank.size() != f) {
                throw SafetensorsFile.tensorError(first.file(), name, byRank.size() + " rank slices of " + s
                        + " along axis " + axis + " make " + s * byRank.size() + ", but moe_intermediate_size is " + f);
            }
            split.put(name, new SplitTensor(name, axis, slices));
        }
        return split;
    }

    /** Every tensor the config implies, with its expected shape and a dtype the engine reads. */
    private static void checkModel(Grok2Config c, Map<String, SafetensorsTensor> common, Map<String, SplitTensor> split,
                                   List<String> warnings) throws ModelFormatException {
        long d = c.hiddenSize();
        Map<String, long[]> expected = new LinkedHashMap<>();
        expected.put("model.embed_tokens.weight", new long[] {c.vocabSize(), d});
        if (common.containsKey("lm_head.weight")) {
            expected.put("lm_head.weight", new long[] {c.vocabSize(), d});
        }
        expected.put("model.norm.weight", new long[] {d});
        long q = (long) c.queryHeads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        for (int layer = 0; layer < c.layers(); layer++) {
            String p = "model.layers." + layer + ".";
            expected.put(p + "self_attn.q_proj.weight", new long[] {q, d});
            expected.put(p + "self_attn.k_proj.weight", new long[] {kv, d});
            expected.put(p + "self_attn.v_proj.weight", new long[] {kv, d});
            expected.put(p + "self_attn.o_proj.weight", new long[] {d, q});
            for (String norm : new String[] {"pre_attn_norm", "post_attn_norm", "pre_moe_norm", "post_moe_norm"}) {
                expected.put(p + norm + ".weight", new long[] {d});
            }
            expected.put(p + "block_sparse_moe.gate.weight", new long[] {c.experts(), d});
            if (c.residualMoe()) {
                expected.put(p + "mlp.gate_proj.weight", new long[] {c.denseFfn(), d});
                expected.put(p + "mlp.up_proj.weight", new long[] {c.denseFfn(), d});
                expected.put(p + "mlp.down_proj.weight", new long[] {d, c.denseFfn()});
            }
        }
        for (var e : expected.entrySet()) {
            SafetensorsTensor t = common.get(e.getKey());
            if (t == null) {
                boolean dense = e.getKey().contains(".mlp.");
                throw new ModelFormatException("tensor " + e.getKey() + ": missing from every TP-common file"
                        + (dense ? " (config.json says residual_moe: true)" : ""));
            }
            if (!t.hasShape(e.getValue())) {
                throw SafetensorsFile.tensorError(t.file(), t.name(), "shape " + Arrays.toString(t.shape())
                        + ", expected " + Arrays.toString(e.getValue()) + " from config.json");
            }
            checkDtype(t);
        }
        for (int layer = 0; layer < c.layers(); layer++) {
            for (int x = 0; x < c.experts(); x++) {
                for (String w : new String[] {"w1", "w2", "w3"}) {
                    String name = expertName(layer, x, w);
                    SplitTensor t = split.get(name);
                    if (t == null) {
                        throw new ModelFormatException("tensor " + name + ": missing from the -TP-KKK files"
                                + (split.isEmpty() ? " (there are none)" : ""));
                    }
                    checkDtype(t.ranks().get(0));
                }
            }
        }
        for (String name : common.keySet()) {
            if (!expected.containsKey(name)) {
                warnings.add(common.get(name).file() + ": " + name + ": not part of the model, ignored");
            }
        }
        for (String name : split.keySet()) {
            int layer = layerOf(name);
            if (layer < 0 || layer >= c.layers()) {
                warnings.add(split.get(name).ranks().get(0).file() + ": " + name + ": not part of the model, ignored");
            }
        }
    }

    private static final Pattern EXPERT_NAME = Pattern.compile("model\\.layers\\.(\\d+)\\.block_sparse_moe\\.experts\\.(\\d+)\\..*");

    private static int layerOf(String name) {
        Matcher m = EXPERT_NAME.matcher(name);
        return m.matches() && m.group(1).length() < 9 ? Integer.parseInt(m.group(1)) : -1;
    }

    private static void checkDtype(SafetensorsTensor t) throws ModelFormatException {
        switch (t.dtype()) {
            case BF16, F32 -> { }
            default -> throw SafetensorsFile.tensorError(t.file(), t.name(), "dtype " + t.dtype()
                    + " is not supported (Grok-2 weights are BF16; F32 is also read)");
        }
    }

    /** The folder as opened (absolute). */
    public Path folder() {
        return folder;
    }

    /** The hyperparameters from {@code config.json}. */
    public Grok2Config config() {
        return config;
    }

    /** The number of tensor-parallel rank files per split tensor (8 in the release). */
    public int rankCount() {
        return rankCount;
    }

    /** @return the unsplit tensor with this name (from a {@code -TP-common} file), or null */
    /** Every tensor of every file, in file order (the rank slices of an expert separately), for a full scan. */
    public List<SafetensorsTensor> storedTensors() {
        List<SafetensorsTensor> all = new ArrayList<>();
        for (SafetensorsFile f : files) {
            all.addAll(f.tensors());
        }
        return all;
    }

    public SafetensorsTensor tensor(String name) {
        return common.get(name);
    }

    /** @return the split (expert) tensor with this name, or null */
    public SplitTensor split(String name) {
        return split.get(name);
    }

    /** @return expert weight {@code w} ("w1", "w2" or "w3") of a layer's expert, as rank slices */
    public SplitTensor expert(int layer, int expert, String w) {
        SplitTensor t = split.get(expertName(layer, expert, w));
        if (t == null) {
            throw new IllegalArgumentException("no expert tensor " + expertName(layer, expert, w));
        }
        return t;
    }

    /**
     * A 2-D {@code [out, in]} tensor of the common files as a {@link WeightMatrix} view ({@code y = x @ stored^T}):
     * {@link BF16Matrix} for BF16, {@link F32Matrix} ({@code OUT_IN}) for F32.
     *
     * @throws IllegalArgumentException if there is no such tensor or it is not 2-D
     */
    public WeightMatrix matrix(String name) {
        SafetensorsTensor t = common.get(name);
        if (t == null || t.shape().length != 2) {
            throw new IllegalArgumentException(t == null ? "no tensor " + name : t + " is not a matrix");
        }
        int out = Math.toIntExact(t.shape()[0]);
        int in = Math.toIntExact(t.shape()[1]);
        return t.dtype() == SafetensorsDtype.F32 ? new F32Matrix(t.data(), in, out, F32Matrix.Layout.OUT_IN)
                : BF16Matrix.of(t.data(), out, in);
    }

    /**
     * Expert weight {@code w} of a layer's expert as one {@link WeightMatrix} over its R rank-slice views (nothing
     * merged): {@code w1}/{@code w3} ({@code [F, D]}) with the slices' rows stacked, {@code w2} ({@code [D, F]})
     * with their columns joined (spec §3.2).
     *
     * @throws IllegalArgumentException if there is no such expert tensor
     * @throws UnsupportedOperationException if its slices are not BF16
     */
    public BF16Matrix expertMatrix(int layer, int expert, String w) {
        SplitTensor t = expert(layer, expert, w);
        if (t.ranks().get(0).dtype() != SafetensorsDtype.BF16) {
            throw new UnsupportedOperationException(t.ranks().get(0) + ": expert slices are read as BF16 only");
        }
        List<java.lang.foreign.MemorySegment> views = t.ranks().stream().map(SafetensorsTensor::data).toList();
        long[] slice = t.ranks().get(0).shape();
        return t.axis() == 0
                ? BF16Matrix.stackedRows(views, Math.toIntExact(slice[0]), Math.toIntExact(slice[1]))
                : BF16Matrix.joinedColumns(views, Math.toIntExact(slice[0]), Math.toIntExact(slice[1]));
    }

    /** True if the checkpoint has its own output projection ({@code lm_head.weight}; otherwise it is tied). */
    public boolean hasUntiedOutput() {
        return common.containsKey("lm_head.weight");
    }

    /** Every stored tensor: the common files, then each rank's files, each file's in data order (for {@code inspect}). */
    public List<TensorInfo> tensors() {
        List<TensorInfo> out = new ArrayList<>();
        for (SafetensorsFile f : files) {
            f.tensors().forEach(t -> out.add(t.info()));
        }
        return out;
    }

    /** What was ignored or overridden while opening, one line each. */
    public List<String> warnings() {
        return warnings;
    }

    /** {@code tokenizer.tok.json} in the folder, or null if there is none. */
    public Path tokenizerPath() {
        Path p = folder.resolve(TOKENIZER);
        return Files.isRegularFile(p) ? p : null;
    }

    /** Unmaps every file; no view may be used afterwards. */
    @Override
    public void close() {
        arena.close();
    }
}
