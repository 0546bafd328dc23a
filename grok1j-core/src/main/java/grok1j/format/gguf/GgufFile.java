package grok1j.format.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GGUF model, possibly split into shards ({@code name-00001-of-00003.gguf}, written by llama.cpp's
 * {@code gguf-split} or by {@link GgufWriter}), opened read-only with every file memory-mapped into one shared
 * {@link Arena}: tensor data is never copied.
 *
 * <p>Split files: each shard carries {@code split.no} (u16, 0-based), {@code split.count} (u16) and, in llama.cpp's
 * files, {@code split.tensors.count}. Opening any shard finds the others by the naming pattern and checks that each
 * has the expected {@code split.no} and {@code split.count}; the model's metadata is that of the first shard, the
 * tensors are the union over all shards.
 *
 * <p>Thread-safety: immutable after {@link #open}; tensor views may be read from any thread until {@link #close}.
 */
public final class GgufFile implements AutoCloseable {
    /** {@code <prefix>-<no>-of-<count>.gguf}, both numbers 5 digits, as llama.cpp's {@code llama_split_path} makes. */
    static final Pattern SPLIT_NAME = Pattern.compile("(.+)-(\\d{5})-of-(\\d{5})\\.gguf");

    public static final String SPLIT_NO = "split.no";
    public static final String SPLIT_COUNT = "split.count";
    public static final String SPLIT_TENSORS_COUNT = "split.tensors.count";

    private final Path path;
    private final Arena arena;
    private final List<GgufShard> shards;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> byName;

    private GgufFile(Path path, Arena arena, List<GgufShard> shards) {
        this.path = path;
        this.arena = arena;
        this.shards = shards;
        List<GgufTensor> all = new ArrayList<>();
        Map<String, GgufTensor> map = new LinkedHashMap<>();
        for (GgufShard s : shards) {
            for (GgufTensor t : s.tensors) {
                GgufTensor prev = map.put(t.name(), t);
                if (prev != null) {
                    throw GgufFormatException.tensor(s.path, t.name(), "duplicate tensor name (also in " + prev.file() + ")");
                }
                all.add(t);
            }
        }
        this.tensors = List.copyOf(all);
        this.byName = Collections.unmodifiableMap(map);
    }

    /**
     * Opens a GGUF file or, if it is one shard of a split model, all its shards.
     *
     * @throws IOException         if a file cannot be read or mapped ({@link java.nio.file.NoSuchFileException} for
     *                             {@code path} itself)
     * @throws GgufFormatException if a file is not valid GGUF, a shard is missing, or shards disagree
     */
    public static GgufFile open(Path path) throws IOException {
        Path p = path.toAbsolutePath().normalize();
        Arena arena = Arena.ofShared();
        try {
            GgufShard first = GgufShard.open(p, arena);
            int count = splitInt(first, SPLIT_COUNT, 1);
            if (count <= 1) {
                return new GgufFile(p, arena, List.of(first));
            }
            int no = splitInt(first, SPLIT_NO, 0);
            Matcher m = SPLIT_NAME.matcher(p.getFileName().toString());
            if (!m.matches() || Integer.parseInt(m.group(2)) != no + 1 || Integer.parseInt(m.group(3)) != count) {
                throw new GgufFormatException(p + ": shard " + (no + 1) + " of " + count
                        + " must be named <name>-" + String.format("%05d-of-%05d", no + 1, count) + ".gguf to find the other shards");
            }
            List<GgufShard> shards = new ArrayList<>(count);
            for (int k = 0; k < count; k++) {
                if (k == no) {
                    shards.add(first);
                    continue;
                }
                Path sp = p.resolveSibling(String.format("%s-%05d-of-%05d.gguf", m.group(1), k + 1, count));
                if (!Files.isRegularFile(sp)) {
                    throw new GgufFormatException(sp + ": missing split shard " + (k + 1) + " of " + count
                            + " (opened from " + p.getFileName() + ")");
                }
                GgufShard s = GgufShard.open(sp, arena);
                int sNo = splitInt(s, SPLIT_NO, -1);
                int sCount = splitInt(s, SPLIT_COUNT, -1);
                if (sNo != k || sCount != count) {
                    throw new GgufFormatException(sp + ": mismatched split shard: split.no " + sNo + ", split.count "
                            + sCount + ", expected " + k + " and " + count);
                }
                shards.add(s);
            }
            GgufFile f = new GgufFile(p, arena, List.copyOf(shards));
            Object total = shards.get(0).metadata.get(SPLIT_TENSORS_COUNT);
            if (total instanceof Number n && n.longValue() != f.tensors.size()) {
                throw new GgufFormatException(shards.get(0).path + ": split.tensors.count is " + n + " but the "
                        + count + " shards hold " + f.tensors.size() + " tensors");
            }
            return f;
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Parses one unsplit GGUF image held in memory ({@code name} only labels messages); for tests and fuzzing. */
    static GgufFile parse(Path name, java.lang.foreign.MemorySegment bytes) {
        return new GgufFile(name, Arena.ofShared(), List.of(GgufShard.parse(name, bytes)));
    }

    private static int splitInt(GgufShard s, String key, int dflt) {
        Object v = s.metadata.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Number n) || n instanceof Float || n instanceof Double || n.longValue() < 0
                || n.longValue() > 65535) {
            throw new GgufFormatException(s.path + ": " + key + " must be an integer 0..65535, got " + v);
        }
        return n.intValue();
    }

    /** The path given to {@link #open}, absolute. */
    public Path path() {
        return path;
    }

    /** Every shard's file as mapped, in shard order. */
    public List<java.lang.foreign.MemorySegment> mappings() {
        return shards.stream().map(s -> s.mapping).toList();
    }

    /** Every file of the model in shard order (one element if not split). */
    public List<Path> files() {
        return shards.stream().map(s -> s.path).toList();
    }

    /** GGUF version of the first shard (2 or 3). */
    public int version() {
        return shards.get(0).version;
    }

    /** {@code general.alignment} of the first shard (32 unless set). */
    public int alignment() {
        return shards.get(0).alignment;
    }

    /** Metadata of the first shard in file order; values as {@link #get} describes. */
    public Map<String, Object> metadata() {
        return shards.get(0).metadata;
    }

    /** The stored type of a metadata key, or null if absent. */
    public GgufValueType type(String key) {
        return shards.get(0).types.get(key);
    }

    /**
     * A metadata value: UINT8/INT8/UINT16/INT16/INT32 as {@link Integer}, UINT32/UINT64/INT64 as {@link Long},
     * FLOAT32 as {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean}, STRING as {@link String},
     * ARRAY as {@link GgufArray}; null if absent.
     */
    public Object get(String key) {
        return metadata().get(key);
    }

    /** @throws GgufFormatException if present with a non-string type */
    public String getString(String key, String dflt) {
        Object v = get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof String s) {
            return s;
        }
        throw wrongType(key, "a string");
    }

    /** An integer key of any integer type. @throws GgufFormatException if present with another type */
    public long getLong(String key, long dflt) {
        Object v = get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        throw wrongType(key, "an integer");
    }

    /** A numeric key of any numeric type. @throws GgufFormatException if present with another type */
    public double getDouble(String key, double dflt) {
        Object v = get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw wrongType(key, "a number");
    }

    /** @throws GgufFormatException if present with a non-bool type */
    public boolean getBoolean(String key, boolean dflt) {
        Object v = get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw wrongType(key, "a bool");
    }

    /** An array key, or null if absent. @throws GgufFormatException if present with a non-array type */
    public GgufArray getArray(String key) {
        Object v = get(key);
        if (v == null || v instanceof GgufArray) {
            return (GgufArray) v;
        }
        throw wrongType(key, "an array");
    }

    private GgufFormatException wrongType(String key, String expected) {
        return new GgufFormatException(shards.get(0).path + ": metadata " + key + " should be " + expected
                + ", found " + type(key) + " " + get(key));
    }

    /** All tensors, shard by shard in file order. */
    public List<GgufTensor> tensors() {
        return tensors;
    }

    /** The tensor with this name, or null. */
    public GgufTensor tensor(String name) {
        return byName.get(name);
    }

    /** Unmaps every shard; tensor views must not be used afterwards. */
    @Override
    public void close() {
        arena.close();
    }
}
