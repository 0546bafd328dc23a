package grok1j.format.pickle;

import grok1j.format.F32Embedding;
import grok1j.format.Json;
import grok1j.format.ModelFile;
import grok1j.format.ModelFormatException;
import grok1j.format.TensorInfo;
import grok1j.format.pickle.CheckpointLayout.Slot;
import grok1j.format.pickle.PickledArray.DType;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.Int8GroupedMatrix;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The official Grok-1 release format (spec §4): a folder {@code ckpt-0/} of {@code 2 + 12 * layers} pickle shards
 * {@code tensorNNNNN_000}, optionally with {@code config.json} and {@code tokenizer.model} beside it.
 *
 * <p>{@link #open} parses every shard header with {@link RestrictedUnpickler} (nothing is executed, payloads are not
 * read), checks every shape against the config, memory-maps each file once into a shared {@link Arena} and builds
 * {@link GrokWeights} as views: {@link Int8GroupedMatrix} for the int8 weights (one per expert for the MoE
 * weights), {@link F32Matrix} for the router, {@link F32Embedding} for the tied embedding. Only the norm scales
 * (a few KB per layer) are copied. {@link #close} unmaps everything.
 */
public final class OfficialCheckpoint implements ModelFile {
    private static final String CKPT_DIR = "ckpt-0";
    private static final String CONFIG = "config.json";
    private static final String TOKENIZER = "tokenizer.model";
    private static final Pattern SHARD = Pattern.compile("tensor(\\d{5})_(\\d{3})");
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path location;
    /** Every shard file as mapped, in file order. */
    private final MemorySegment[] maps;
    private final Path ckptDir;
    private final Path configFile;
    private final Path tokenizer;
    private final GrokConfig config;
    private final CheckpointLayout layout;
    private final List<PickleShard> shards;
    private final Arena arena;
    private final GrokWeights weights;
    private boolean closed;

    private OfficialCheckpoint(Path location, Path ckptDir, Path configFile, Path tokenizer, GrokConfig config,
                               CheckpointLayout layout, List<PickleShard> shards, Arena arena, MemorySegment[] maps) {
        this.location = location;
        this.ckptDir = ckptDir;
        this.configFile = configFile;
        this.tokenizer = tokenizer;
        this.config = config;
        this.layout = layout;
        this.shards = shards;
        this.arena = arena;
        this.maps = maps;
        this.weights = new WeightBuilder(maps).build();
    }

    /**
     * Opens a checkpoint: {@code path} is the folder holding {@code ckpt-0/} or {@code ckpt-0/} itself.
     * Hyperparameters are {@link GrokConfig#grok1()} unless a {@code config.json} sits beside {@code ckpt-0/}.
     * Costs the header parse of each shard (a few KB read per file) and one mmap per file.
     *
     * @throws ModelFormatException (one line) if the path does not exist or holds no shards, a shard is missing
     *                              or extra, a pickle is truncated or hostile, or a shape/dtype disagrees with
     *                              the config (naming file, tensor, expected and found)
     */
    public static OfficialCheckpoint open(Path path) throws ModelFormatException {
        Path given = path.toAbsolutePath().normalize();
        if (!Files.exists(given)) {
            throw new ModelFormatException("no such file or directory: " + path);
        }
        Path ckpt = findCkptDir(given, path);
        Path root = ckpt.getParent() != null ? ckpt.getParent() : ckpt;
        Path configFile = Files.exists(root.resolve(CONFIG)) ? root.resolve(CONFIG) : null;
        GrokConfig config = configFile != null ? readConfig(configFile) : GrokConfig.grok1();
        CheckpointLayout layout = new CheckpointLayout(config.layers());
        checkFileSet(ckpt, layout, configFile);

        List<PickleShard> shards = new ArrayList<>(layout.fileCount());
        for (int i = 0; i < layout.fileCount(); i++) {
            PickleShard s = PickleShard.read(ckpt.resolve(CheckpointLayout.fileName(i)));
            checkShard(i, s, layout, config);
            shards.add(s);
        }

        Arena arena = Arena.ofShared();
        try {
            MemorySegment[] maps = new MemorySegment[shards.size()];
            for (int i = 0; i < maps.length; i++) {
                maps[i] = map(shards.get(i), arena);
            }
            return new OfficialCheckpoint(root, ckpt, configFile,
                    findTokenizer(given, root), config, layout, List.copyOf(shards), arena, maps);
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * The tokenizer to use: {@code explicit} if given (it must exist), else the one found next to the weights.
     *
     * @throws ModelFormatException if {@code explicit} does not exist, or none was given and none was found
     */
    public static Path resolveTokenizer(Path explicit, ModelFile model) throws ModelFormatException {
        if (explicit != null) {
            if (!Files.isRegularFile(explicit)) {
                throw new ModelFormatException("no such tokenizer file: " + explicit);
            }
            return explicit;
        }
        if (model.tokenizerPath() != null) {
            return model.tokenizerPath();
        }
        throw new ModelFormatException("no " + TOKENIZER + " found for " + model.location()
                + " (looked beside ckpt-0/ and two levels above it); pass --tokenizer PATH");
    }

    // ---- opening, step by step ----

    /** {@code given/ckpt-0} if it exists, else {@code given} itself if it holds shards. */
    private static Path findCkptDir(Path given, Path asTyped) throws ModelFormatException {
        Path inside = given.resolve(CKPT_DIR);
        if (Files.isDirectory(inside) && hasShards(inside)) {
            return inside;
        }
        if (Files.isDirectory(given) && hasShards(given)) {
            return given;
        }
        throw new ModelFormatException("not a Grok-1 checkpoint: " + asTyped + " (no ckpt-0/ with tensorNNNNN_000 files)");
    }

    /**
     * Whether {@code path} is a folder holding tensor shards, or holding {@code ckpt-0/} with them: what
     * {@link #open} accepts as the checkpoint's location.
     */
    public static boolean isCheckpointFolder(Path path) {
        Path inside = path.resolve(CKPT_DIR);
        return (Files.isDirectory(inside) && hasShards(inside)) || (Files.isDirectory(path) && hasShards(path));
    }

    private static boolean hasShards(Path dir) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                if (SHARD.matcher(p.getFileName().toString()).matches()) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    private static GrokConfig readConfig(Path file) throws ModelFormatException {
        try {
            if (!Files.isRegularFile(file)) {
                throw new ModelFormatException(file + ": not a regular file (expected a JSON object of hyperparameters)");
            }
            Object json;
            try {
                json = Json.parse(Files.readString(file));
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new ModelFormatException(file + ": not UTF-8 text (expected a JSON object of hyperparameters)", e);
            }
            if (!(json instanceof Map<?, ?> m)) {
                throw new ModelFormatException(file + ": expected a JSON object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = (Map<String, Object>) m;
            return GrokConfig.fromJson(map);
        } catch (ModelFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new ModelFormatException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    /** Exactly {@code tensor00000_000 .. tensor<2+12L-1>_000}: names the first missing or unexpected file. */
    private static void checkFileSet(Path ckpt, CheckpointLayout layout, Path configFile) throws ModelFormatException {
        int expected = layout.fileCount();
        BitSet present = new BitSet(expected);
        int found = 0;
        String extra = null;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(ckpt)) {
            for (Path p : ds) {
                Matcher m = SHARD.matcher(p.getFileName().toString());
                if (!m.matches()) {
                    continue;
                }
                found++;
                int index = Integer.parseInt(m.group(1));
                if (!m.group(2).equals("000") || index >= expected) {
                    extra = extra == null || p.getFileName().toString().compareTo(extra) < 0 ? p.getFileName().toString() : extra;
                } else {
                    present.set(index);
                }
            }
        } catch (IOException e) {
            throw new ModelFormatException("cannot list " + ckpt + ": " + e.getMessage(), e);
        }
        String model = "a " + layout.layers() + "-layer model has " + expected + " files tensor00000_000.."
                + CheckpointLayout.fileName(expected - 1) + " ("
                + (configFile == null ? "Grok-1 defaults, no config.json beside ckpt-0/" : "from " + configFile)
                + "), found " + found;
        int missing = present.nextClearBit(0);
        if (missing < expected) {
            throw new ModelFormatException("missing shard " + CheckpointLayout.fileName(missing) + " in " + ckpt + ": " + model);
        }
        if (extra != null) {
            throw new ModelFormatException("unexpected shard " + extra + " in " + ckpt + ": " + model);
        }
    }

    /** Kind, dtype and shape of file {@code index} against the config; derives and checks the scale groups. */
    private static void checkShard(int index, PickleShard s, CheckpointLayout layout, GrokConfig config)
            throws ModelFormatException {
        String where = s.name() + " (" + layout.tensorName(index) + "): ";
        long[] want = layout.expectedShape(index, config);
        PickledArray a = s.array();
        if (!layout.quantized(index)) {
            if (s.quantized() || a.dtype() != DType.F32 || !Arrays.equals(a.shape(), want)) {
                throw new ModelFormatException(where + "expected f32 " + PickledArray.shapeString(want)
                        + ", found " + describe(s));
            }
            return;
        }
        if (!s.quantized() || !Arrays.equals(a.shape(), want)) {
            throw new ModelFormatException(where + "expected int8 " + PickledArray.shapeString(want)
                    + " + bf16 scales, found " + describe(s));
        }
        // scales [..., G, N] with G dividing K (spec §3.5): G = 1 or 8 in the release, taken from the file
        PickledArray sc = s.scales();
        int r = a.rank();
        long k = a.dim(r - 2), n = a.dim(r - 1);
        boolean ok = sc.rank() == r && sc.dim(r - 1) == n && sc.dim(r - 2) >= 1 && k % sc.dim(r - 2) == 0;
        for (int i = 0; ok && i < r - 2; i++) {
            ok = sc.dim(i) == a.dim(i);
        }
        if (!ok) {
            StringBuilder pattern = new StringBuilder("[");
            for (int i = 0; i < r - 2; i++) {
                pattern.append(a.dim(i)).append(',');
            }
            pattern.append("G,").append(n).append(']');
            throw new ModelFormatException(where + "expected bf16 scales " + pattern + " with G dividing " + k
                    + ", found " + sc.shapeString());
        }
    }

    private static String describe(PickleShard s) {
        return s.quantized()
                ? "int8 " + s.array().shapeString() + " + bf16 scales " + s.scales().shapeString()
                : s.array().dtype() + " " + s.array().shapeString();
    }

    private static MemorySegment map(PickleShard s, Arena arena) throws ModelFormatException {
        try (FileChannel ch = FileChannel.open(s.file(), StandardOpenOption.READ)) {
            if (ch.size() < s.size()) {
                throw new ModelFormatException(s.name() + ": shrank from " + s.size() + " to " + ch.size() + " bytes while opening");
            }
            return s.size() == 0 ? ch.map(FileChannel.MapMode.READ_ONLY, 0, 0, arena)
                    : grok1j.format.FileMapping.readOnly(s.file(), ch, 0, s.size(), arena);
        } catch (IOException e) {
            if (e instanceof ModelFormatException mfe) {
                throw mfe;
            }
            throw new ModelFormatException(s.name() + ": cannot map " + s.file() + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code tokenizer.model} in the folder the user gave, beside {@code ckpt-0/}, or two levels above
     * {@code ckpt-0/} (the official repo keeps {@code checkpoints/ckpt-0/} under the folder with the tokenizer).
     */
    private static Path findTokenizer(Path given, Path root) {
        List<Path> candidates = new ArrayList<>();
        if (Files.isDirectory(given)) {
            candidates.add(given.resolve(TOKENIZER));
        }
        candidates.add(root.resolve(TOKENIZER));
        if (root.getParent() != null) {
            candidates.add(root.getParent().resolve(TOKENIZER));
        }
        for (Path c : candidates) {
            if (Files.isRegularFile(c)) {
                return c;
            }
        }
        return null;
    }

    // ---- building the weights over the mappings ----

    /** Builds {@link GrokWeights} from the validated shards; shapes are known to match the config here. */
    private final class WeightBuilder {
        private final MemorySegment[] maps;

        WeightBuilder(MemorySegment[] maps) {
            this.maps = maps;
        }

        GrokWeights build() {
            PickledArray emb = shards.get(0).array();
            F32Embedding embedding = new F32Embedding(slice(0, emb), config.vocabSize(), config.dModel());
            List<LayerWeights> layers = new ArrayList<>(config.layers());
            for (int l = 0; l < config.layers(); l++) {
                layers.add(layer(l));
            }
            return new GrokWeights(config, embedding, floats(1), Collections.unmodifiableList(layers));
        }

        private LayerWeights layer(int l) {
            return new LayerWeights(
                    floats(file(l, Slot.ATTN_NORM)),
                    matrix(file(l, Slot.QUERY)), matrix(file(l, Slot.KEY)), matrix(file(l, Slot.VALUE)),
                    matrix(file(l, Slot.ATTN_OUTPUT)),
                    floats(file(l, Slot.POST_ATTN_NORM)), floats(file(l, Slot.PRE_MOE_NORM)),
                    new F32Matrix(slice(file(l, Slot.ROUTER), shards.get(file(l, Slot.ROUTER)).array()),
                            config.dModel(), config.experts(), F32Matrix.Layout.IN_OUT),
                    experts(file(l, Slot.GATE)), experts(file(l, Slot.UP)), experts(file(l, Slot.DOWN)),
                    floats(file(l, Slot.POST_MOE_NORM)));
        }

        private int file(int layer, Slot slot) {
            return layout.fileIndex(layer, slot);
        }

        private MemorySegment slice(int index, PickledArray a) {
            return maps[index].asSlice(a.offset(), a.length());
        }

        /** A 2-D {@code [K, N]} int8 weight with scales {@code [G, N]}. */
        private WeightMatrix matrix(int index) {
            PickleShard s = shards.get(index);
            return expert(s, slice(index, s.array()), slice(index, s.scales()), 0);
        }

        /** {@code [E, K, N]} split into E matrices: expert e is bytes {@code [e*K*N, (e+1)*K*N)}, scales likewise. */
        private WeightMatrix[] experts(int index) {
            PickleShard s = shards.get(index);
            MemorySegment q = slice(index, s.array());
            MemorySegment sc = slice(index, s.scales());
            WeightMatrix[] out = new WeightMatrix[(int) s.array().dim(0)];
            for (int e = 0; e < out.length; e++) {
                out[e] = expert(s, q, sc, e);
            }
            return out;
        }

        private Int8GroupedMatrix expert(PickleShard s, MemorySegment q, MemorySegment sc, int e) {
            int r = s.array().rank();
            int k = (int) s.array().dim(r - 2), n = (int) s.array().dim(r - 1), g = (int) s.scales().dim(r - 2);
            long qBytes = (long) k * n, sBytes = 2L * g * n;
            return new Int8GroupedMatrix(q.asSlice(e * qBytes, qBytes), sc.asSlice(e * sBytes, sBytes), k, n, g);
        }

        /** Norm scales are tiny and read on every token: copy them. */
        private float[] floats(int index) {
            PickledArray a = shards.get(index).array();
            float[] v = new float[(int) (a.length() / 4)];
            MemorySegment.copy(maps[index], F32_LE, a.offset(), v, 0, v.length);
            return v;
        }
    }

    // ---- ModelFile ----

    @Override
    public GrokWeights weights() {
        return weights;
    }

    /** The hyperparameters every shape was checked against. */
    public GrokConfig config() {
        return config;
    }

    /** The {@code ckpt-0/} folder. */
    public Path checkpointDir() {
        return ckptDir;
    }

    /** The parsed shard headers, in file order. */
    public List<PickleShard> shards() {
        return shards;
    }

    /** The file-to-parameter mapping in use. */
    public CheckpointLayout layout() {
        return layout;
    }

    /** One entry per file in file order; quantized entries give the weight's shape and offset, bytes include the scales. */
    @Override
    public List<TensorInfo> tensors() {
        List<TensorInfo> out = new ArrayList<>(shards.size());
        for (int i = 0; i < shards.size(); i++) {
            PickleShard s = shards.get(i);
            String type = s.quantized() ? "int8+bf16 scales " + s.scales().shapeString() : s.array().dtype().toString();
            out.add(new TensorInfo(layout.tensorName(i), s.array().shape(), type, s.payloadBytes(), s.file(), s.array().offset()));
        }
        return out;
    }

    @Override
    public Map<String, String> metadata() {
        long fileBytes = 0, payload = 0;
        for (PickleShard s : shards) {
            fileBytes += s.size();
            payload += s.payloadBytes();
        }
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "official ckpt-0 (pickle)");
        m.put("checkpoint", ckptDir.toString());
        m.put("shards", shards.size() + " (tensor00000_000.." + CheckpointLayout.fileName(shards.size() - 1) + ")");
        m.put("pickle protocol", Integer.toString(shards.getFirst().protocol()));
        m.put("layers", config.layers() + " (files in lexicographic layer order, spec 4.2)");
        m.put("config", configFile == null ? "Grok-1 defaults (no config.json)" : configFile.toString());
        m.put("model", config.summary());
        m.put("file bytes", Long.toString(fileBytes));
        m.put("payload bytes", Long.toString(payload));
        m.put("tokenizer", tokenizer == null ? "none found" : tokenizer.toString());
        return m;
    }

    @Override
    public Path location() {
        return location;
    }

    @Override
    public Path tokenizerPath() {
        return tokenizer;
    }

    @Override
    public List<MemorySegment> mappings() {
        return List.of(maps);
    }

    /** Unmaps every shard; the weights must not be used afterwards. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
