package grok1j.format.gguf;

import grok1j.tensor.GgmlQuant;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF v3 files in one streaming pass: header, metadata, tensor infos, then each tensor's data at its aligned
 * offset. Tensors are declared up front with their name, type and shape plus a {@link RowSource}; their data is
 * requested only while it is written, a tile of rows at a time (at most {@value #TILE_FLOATS} floats), so no more
 * than one tile of one tensor is ever in memory. Rows are quantized to the declared type with {@link GgmlQuant}.
 * With a {@link ThreadPool} the rows of a tile are read and quantized by all its threads, each part of the tile by
 * one thread; every row is quantized on its own, so the bytes do not depend on the thread count.
 *
 * <p>With a maximum shard size, tensors are packed greedily into shards named {@code <name>-00001-of-0000N.gguf}
 * (llama.cpp's {@code gguf-split} convention): the first shard carries all metadata, every shard carries
 * {@code split.no}, {@code split.count} and {@code split.tensors.count}.
 *
 * <p>Files are written under a {@code .part} name and renamed when complete.
 */
public final class GgufWriter {
    /** Floats per tile handed to a {@link RowSource} (16 MB). */
    public static final int TILE_FLOATS = 4 << 20;

    /**
     * Supplies tensor data as float32 rows of {@code ne[0]} elements. Row {@code r} of a tensor with
     * {@code ne = {K, N, E}} is row {@code r % N} of matrix {@code r / N}. When writing with a thread pool it is
     * called from several threads at once, for disjoint rows and distinct {@code out} arrays.
     */
    @FunctionalInterface
    public interface RowSource {
        /** Fills {@code out[0, count * ne[0])} with rows {@code [first, first + count)}. */
        void rows(long first, int count, float[] out);
    }

    private record Entry(GgufValueType type, GgufValueType elementType, Object value) {}

    private record Tensor(String name, GgmlType type, long[] ne, RowSource source, long bytes) {}

    private final Map<String, Entry> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private int alignment = GgufShard.DEFAULT_ALIGNMENT;

    /** Sets {@code general.alignment} (a power of two; default 32, which is then not written). */
    public GgufWriter alignment(int a) {
        if (a <= 0 || Integer.bitCount(a) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two, got " + a);
        }
        alignment = a;
        return this;
    }

    /**
     * Adds a scalar key: a {@link Number} for numeric types, {@link Boolean} for BOOL, {@link String} for STRING.
     *
     * @throws IllegalArgumentException if the key exists or the value does not fit the type
     */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        if (type == GgufValueType.ARRAY) {
            throw new IllegalArgumentException("use putArray for " + key);
        }
        checkScalar(key, type, value);
        add(key, new Entry(type, null, value));
        return this;
    }

    public GgufWriter putString(String key, String v) { return put(key, GgufValueType.STRING, v); }
    public GgufWriter putU32(String key, long v) { return put(key, GgufValueType.UINT32, v); }
    public GgufWriter putI32(String key, int v) { return put(key, GgufValueType.INT32, v); }
    public GgufWriter putF32(String key, float v) { return put(key, GgufValueType.FLOAT32, v); }
    public GgufWriter putBool(String key, boolean v) { return put(key, GgufValueType.BOOL, v); }

    /**
     * Adds an array key. {@code values} is a Java array: {@code String[]} for STRING, {@code float[]} or
     * {@code double[]} for float types, {@code int[]}/{@code long[]} for integer types, {@code boolean[]} for BOOL.
     * Nested arrays are not written (the reader supports them; grok1j never needs to write one).
     */
    public GgufWriter putArray(String key, GgufValueType elementType, Object values) {
        int n = java.lang.reflect.Array.getLength(values);
        for (int i = 0; i < n; i++) {
            checkScalar(key, elementType, java.lang.reflect.Array.get(values, i));
        }
        add(key, new Entry(GgufValueType.ARRAY, elementType, values));
        return this;
    }

    private void add(String key, Entry e) {
        if (key.startsWith("split.") || key.equals("general.alignment")) {
            throw new IllegalArgumentException(key + " is managed by the writer");
        }
        if (metadata.putIfAbsent(key, e) != null) {
            throw new IllegalArgumentException("duplicate metadata key " + key);
        }
    }

    private static void checkScalar(String key, GgufValueType type, Object v) {
        boolean ok = switch (type) {
            case STRING -> v instanceof String;
            case BOOL -> v instanceof Boolean;
            case FLOAT32, FLOAT64 -> v instanceof Number;
            case ARRAY -> false;
            default -> v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte;
        };
        if (!ok) {
            throw new IllegalArgumentException("metadata " + key + ": " + v + " is not a " + type);
        }
    }

    /**
     * Declares a tensor. {@code ne} is in ggml order (row length first).
     *
     * @throws IllegalArgumentException if the name repeats, the type cannot be written, or {@code ne[0]} is not a
     *                                  multiple of its block size
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] ne, RowSource source) {
        if (!GgmlQuant.canQuantize(type)) {
            throw new IllegalArgumentException("tensor " + name + ": cannot write type " + type);
        }
        if (ne.length < 1 || ne.length > GgufShard.MAX_DIMS || ne[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + ": shape " + java.util.Arrays.toString(ne)
                    + " does not suit " + type + " (rows must be a multiple of " + type.blockSize() + ")");
        }
        long elements = 1;
        for (long d : ne) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor " + name + ": dimension " + d);
            }
            elements = Math.multiplyExact(elements, d);
        }
        for (Tensor t : tensors) {
            if (t.name.equals(name)) {
                throw new IllegalArgumentException("duplicate tensor " + name);
            }
        }
        tensors.add(new Tensor(name, type, ne.clone(), source, type.bytesFor(elements)));
        return this;
    }

    /** The declared tensors as (name, type, ggml ne), in write order, e.g. for a dry run. */
    public List<String> describe() {
        return tensors.stream().map(t -> t.name + " " + t.type + " " + java.util.Arrays.toString(t.ne)).toList();
    }

    /** The declared tensors' types by name, in write order. */
    public Map<String, GgmlType> types() {
        Map<String, GgmlType> m = new LinkedHashMap<>();
        for (Tensor t : tensors) {
            m.put(t.name, t.type);
        }
        return m;
    }

    /**
     * The tensors whose data alone (aligned) exceed {@code maxShardBytes}, by name with their byte size: a tensor is
     * never split, so {@link #write} gives each a shard larger than the limit. Empty if {@code maxShardBytes} is 0.
     */
    public Map<String, Long> tensorsLargerThan(long maxShardBytes) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (Tensor t : tensors) {
            if (maxShardBytes > 0 && GgufShard.alignUp(t.bytes, alignment) > maxShardBytes) {
                m.put(t.name, t.bytes);
            }
        }
        return m;
    }

    /** Total tensor data bytes that {@link #write} will produce (without padding). */
    public long dataBytes() {
        return tensors.stream().mapToLong(Tensor::bytes).sum();
    }

    /**
     * Writes the file, or the shards if the data exceeds {@code maxShardBytes}.
     *
     * @param out           the output path (a single file), or the base name of the shards ({@code .gguf} stripped)
     * @param maxShardBytes maximum tensor data bytes per shard, or 0 for one file; a tensor larger than this gets a
     *                      shard of its own
     * @return the files written, in shard order
     * @throws IOException if writing fails (partial {@code .part} files are deleted)
     */
    public List<Path> write(Path out, long maxShardBytes, GgufProgress progress) throws IOException {
        return write(out, maxShardBytes, progress, null);
    }

    /**
     * As {@link #write(Path, long, GgufProgress)}, reading and quantizing each tile with all threads of
     * {@code pool} (null: the calling thread alone). The file's bytes are the same whatever the pool.
     */
    public List<Path> write(Path out, long maxShardBytes, GgufProgress progress, ThreadPool pool) throws IOException {
        List<List<Tensor>> shards = new ArrayList<>();
        List<Tensor> cur = new ArrayList<>();
        long curBytes = 0;
        for (Tensor t : tensors) {
            long padded = GgufShard.alignUp(t.bytes, alignment);
            if (maxShardBytes > 0 && !cur.isEmpty() && curBytes + padded > maxShardBytes) {
                shards.add(cur);
                cur = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(t);
            curBytes += padded;
        }
        shards.add(cur);
        int count = shards.size();
        List<Path> paths = new ArrayList<>();
        if (count == 1) {
            paths.add(out);
        } else {
            String base = out.getFileName().toString();
            if (base.endsWith(".gguf")) {
                base = base.substring(0, base.length() - 5);
            }
            for (int k = 0; k < count; k++) {
                paths.add(out.resolveSibling(String.format("%s-%05d-of-%05d.gguf", base, k + 1, count)));
            }
        }
        long[] done = {0};
        long total = dataBytes();
        List<Path> parts = new ArrayList<>();
        try {
            for (int k = 0; k < count; k++) {
                Path part = paths.get(k).resolveSibling(paths.get(k).getFileName() + ".part");
                parts.add(part);
                writeShard(part, shards.get(k), k, count, done, total, progress == null ? GgufProgress.NONE : progress,
                        pool);
            }
            for (int k = 0; k < count; k++) {
                Files.move(parts.get(k), paths.get(k), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException e) {
            for (Path p : parts) {
                Files.deleteIfExists(p);
            }
            throw e;
        }
        return paths;
    }

    private void writeShard(Path path, List<Tensor> list, int no, int count, long[] done, long total, GgufProgress progress,
                            ThreadPool pool) throws IOException {
        Map<String, Entry> kv = new LinkedHashMap<>();
        if (no == 0) {
            kv.putAll(metadata);
        }
        if (alignment != GgufShard.DEFAULT_ALIGNMENT) {
            kv.put("general.alignment", new Entry(GgufValueType.UINT32, null, (long) alignment));
        }
        if (count > 1) {
            kv.put(GgufFile.SPLIT_NO, new Entry(GgufValueType.UINT16, null, no));
            kv.put(GgufFile.SPLIT_COUNT, new Entry(GgufValueType.UINT16, null, count));
            kv.put(GgufFile.SPLIT_TENSORS_COUNT, new Entry(GgufValueType.INT32, null, tensors.size()));
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
             Out o = new Out(ch)) {
            o.i32(GgufShard.MAGIC).i32(3).i64(list.size()).i64(kv.size());
            for (Map.Entry<String, Entry> e : kv.entrySet()) {
                o.str(e.getKey()).i32(e.getValue().type.id());
                value(o, e.getValue());
            }
            long offset = 0;
            for (Tensor t : list) {
                o.str(t.name).i32(t.ne.length);
                for (long d : t.ne) {
                    o.i64(d);
                }
                o.i32(t.type.id()).i64(offset);
                offset += GgufShard.alignUp(t.bytes, alignment);
            }
            o.pad(alignment);
            for (Tensor t : list) {
                writeTensor(o, t, done, total, progress, pool);
                o.pad(alignment);
            }
        }
    }

    private void writeTensor(Out o, Tensor t, long[] done, long total, GgufProgress progress, ThreadPool pool)
            throws IOException {
        int k = (int) t.ne[0];
        if (t.ne[0] > TILE_FLOATS) {
            throw new IllegalArgumentException("tensor " + t.name + ": rows of " + t.ne[0] + " elements are too long");
        }
        long rows = 1;
        for (int i = 1; i < t.ne.length; i++) {
            rows *= t.ne[i];
        }
        int tile = (int) Math.max(1, Math.min(rows, TILE_FLOATS / k));
        // the tile is cut into one part per thread, each read into its own buffer and quantized into its own bytes
        int parts = pool == null ? 1 : Math.min(tile, pool.threads());
        float[][] bufs = new float[parts][(tile + parts - 1) / parts * k];
        long rowBytes = t.type.bytesFor(k);
        byte[] bytes = new byte[(int) (rowBytes * tile)];
        MemorySegment seg = MemorySegment.ofArray(bytes);
        for (long r = 0; r < rows; r += tile) {
            int n = (int) Math.min(tile, rows - r);
            long first = r;
            ThreadPool.Job job = (part, all) -> {
                int a = (int) ((long) n * part / all), b = (int) ((long) n * (part + 1) / all);
                if (a < b) {
                    t.source.rows(first + a, b - a, bufs[part]);
                    GgmlQuant.quantize(t.type, bufs[part], 0, (b - a) * k, seg, a * rowBytes);
                }
            };
            if (parts == 1) {
                job.run(0, 1);
            } else {
                pool.run(job, parts);
            }
            o.bytes(bytes, (int) (n * rowBytes));
            done[0] += n * rowBytes;
            progress.update(t.name, done[0], total);
        }
    }

    private static void value(Out o, Entry e) throws IOException {
        if (e.type == GgufValueType.ARRAY) {
            int n = java.lang.reflect.Array.getLength(e.value);
            o.i32(e.elementType.id()).i64(n);
            for (int i = 0; i < n; i++) {
                scalar(o, e.elementType, java.lang.reflect.Array.get(e.value, i));
            }
        } else {
            scalar(o, e.type, e.value);
        }
    }

    private static void scalar(Out o, GgufValueType t, Object v) throws IOException {
        switch (t) {
            case UINT8, INT8 -> o.u8(((Number) v).intValue());
            case UINT16, INT16 -> o.i16(((Number) v).intValue());
            case UINT32, INT32 -> o.i32(((Number) v).intValue());
            case UINT64, INT64 -> o.i64(((Number) v).longValue());
            case FLOAT32 -> o.i32(Float.floatToRawIntBits(((Number) v).floatValue()));
            case FLOAT64 -> o.i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
            case BOOL -> o.u8((Boolean) v ? 1 : 0);
            case STRING -> o.str((String) v);
            case ARRAY -> throw new IllegalArgumentException("nested arrays are not written");
        }
    }

    /** A little-endian buffered channel writer that tracks its position (for padding). */
    private static final class Out implements AutoCloseable {
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private long pos;

        Out(FileChannel ch) {
            this.ch = ch;
        }

        private void room(int n) throws IOException {
            if (buf.remaining() < n) {
                flush();
            }
        }

        private void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            buf.clear();
        }

        Out u8(int v) throws IOException { room(1); buf.put((byte) v); pos += 1; return this; }
        Out i16(int v) throws IOException { room(2); buf.putShort((short) v); pos += 2; return this; }
        Out i32(int v) throws IOException { room(4); buf.putInt(v); pos += 4; return this; }
        Out i64(long v) throws IOException { room(8); buf.putLong(v); pos += 8; return this; }

        Out str(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            return bytes(b, b.length);
        }

        Out bytes(byte[] b, int n) throws IOException {
            int off = 0;
            while (off < n) {
                room(1);
                int c = Math.min(buf.remaining(), n - off);
                buf.put(b, off, c);
                off += c;
            }
            pos += n;
            return this;
        }

        void pad(int a) throws IOException {
            while (pos % a != 0) {
                u8(0);
            }
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
