package grok1j.format.pickle;

import grok1j.format.pickle.CheckpointLayout.Slot;
import grok1j.model.Architecture;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.Int8GroupedMatrix;
import grok1j.tensor.WeightMatrix;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes checkpoints in the official Grok-1 format (spec §4): {@code ckpt-0/tensorNNNNN_000} shards that are byte for
 * byte what {@code shared/reference/ckpt_writer.py} (Python's protocol-4 pickler over numpy arrays) produces, plus a
 * {@code config.json}. {@link #write} writes a whole model from its {@link GrokWeights} (e.g. the bench's synthetic
 * model), streaming each array from its source, so that no shard is ever held in memory (the release's expert shards
 * are 1.6 GB, its embedding 3.2 GB).
 *
 * <p>The shard bytes follow the pickler step by step: every {@code save} of an object may first close a frame of
 * at least 64 KiB; strings, tuples, globals, bytes and reduced objects are memoized in the order Python memoizes
 * them, and objects Python sees twice in one pickle (the {@code numpy} module name, {@code _reconstruct},
 * {@code ndarray}, {@code numpy.dtype}, the one-byte {@code b'b'}) are fetched back with {@code BINGET}; payloads of
 * 64 KiB or more are written outside any frame. {@code OfficialCheckpointWriterTest} checks this against the shards
 * of {@code fixtures/grok-1-tiny}, which that script wrote.
 */
public final class OfficialCheckpointWriter {
    private OfficialCheckpointWriter() {}

    /** An array's raw bytes (C order, little-endian), written when the shard is. */
    private interface Payload {
        long size();

        void writeTo(Out out) throws IOException;

        /** The bytes in memory (for payloads small enough to sit inside a pickle frame). */
        default byte[] toArray() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream((int) size());
            try (Out o = new Out(Channels.newChannel(b))) {
                writeTo(o);
            }
            return b.toByteArray();
        }

        static Payload of(byte[] bytes) {
            return new Payload() {
                @Override public long size() { return bytes.length; }
                @Override public void writeTo(Out out) throws IOException { out.write(bytes, 0, bytes.length); }
                @Override public byte[] toArray() { return bytes; }
            };
        }
    }

    /**
     * Writes {@code root/config.json}, {@code root/ckpt-0/} with one shard per parameter in the file order of spec
     * §4.2, and, if {@code tokenizer} is given, a copy of it as {@code root/tokenizer.model} (where
     * {@link OfficialCheckpoint} finds it).
     *
     * @param weights Grok-1 weights with int8 matrices ({@link Int8GroupedMatrix}: q, k, v, attention output,
     *                experts), an f32 router ({@link F32Matrix}) and a tied embedding
     * @throws IllegalArgumentException if the weights are not of that kind (e.g. Grok-2, or a GGUF's)
     * @throws IOException              if writing fails
     */
    public static void write(GrokWeights weights, Path root, Path tokenizer) throws IOException {
        GrokConfig c = weights.config();
        if (!c.architecture().equals(Architecture.grok1()) || weights.output() != null) {
            throw new IllegalArgumentException("only Grok-1 weights can be written as an official checkpoint");
        }
        Path ckpt = startCheckpoint(root, c);
        CheckpointLayout layout = new CheckpointLayout(c.layers());
        int d = c.dModel(), vocab = c.vocabSize();
        writeShard(ckpt, 0, f32(new long[] {vocab, d}, out -> {
            float[] row = new float[d];
            for (int t = 0; t < vocab; t++) {
                weights.embedding().lookup(t, row, 0);
                out.writeFloats(row);
            }
        }));
        writeShard(ckpt, 1, f32(new long[] {d}, out -> out.writeFloats(weights.finalNorm())));
        for (int l = 0; l < c.layers(); l++) {
            LayerWeights w = weights.layers().get(l);
            for (Slot slot : Slot.values()) {
                long[] shape = slot.shape(c);
                Pickler p = switch (slot) {
                    case GATE -> quantized(shape, w.gate());
                    case UP -> quantized(shape, w.up());
                    case DOWN -> quantized(shape, w.down());
                    case KEY -> quantized(shape, w.key());
                    case VALUE -> quantized(shape, w.value());
                    case QUERY -> quantized(shape, w.query());
                    case ATTN_OUTPUT -> quantized(shape, w.attnOutput());
                    case ATTN_NORM -> f32(shape, out -> out.writeFloats(w.attnNorm()));
                    case POST_ATTN_NORM -> f32(shape, out -> out.writeFloats(w.postAttnNorm()));
                    case PRE_MOE_NORM -> f32(shape, out -> out.writeFloats(w.preMoeNorm()));
                    case POST_MOE_NORM -> f32(shape, out -> out.writeFloats(w.postMoeNorm()));
                    case ROUTER -> router(shape, w.router());
                };
                writeShard(ckpt, layout.fileIndex(l, slot), p);
            }
        }
        if (tokenizer != null) {
            Files.copy(tokenizer, root.resolve("tokenizer.model"), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Writes the array's elements in C order. */
    @FunctionalInterface
    private interface Elements {
        void writeTo(Out out) throws IOException;
    }

    private static Pickler f32(long[] shape, Elements e) throws IOException {
        long bytes = 4;
        for (long n : shape) {
            bytes *= n;
        }
        long size = bytes;
        Pickler p = new Pickler();
        p.ndarray("f4", new Payload() {
            @Override public long size() { return size; }
            @Override public void writeTo(Out out) throws IOException { e.writeTo(out); }
        }, shape);
        return p;
    }

    private static Pickler router(long[] shape, WeightMatrix m) throws IOException {
        if (!(m instanceof F32Matrix f)) {
            throw new IllegalArgumentException("the router is stored as " + m.typeName() + ", not f32");
        }
        return f32(shape, out -> {
            float[] row = new float[f.outputDim()];
            for (int r = 0; r < f.inputDim(); r++) {
                for (int c = 0; c < row.length; c++) {
                    row[c] = f.get(r, c);
                }
                out.writeFloats(row);
            }
        });
    }

    /** One matrix ({@code shape} of rank 2) or the experts' stack (rank 3) as a {@code QuantizedWeight8bit}. */
    private static Pickler quantized(long[] shape, WeightMatrix... matrices) throws IOException {
        Int8GroupedMatrix[] q = new Int8GroupedMatrix[matrices.length];
        for (int e = 0; e < q.length; e++) {
            if (!(matrices[e] instanceof Int8GroupedMatrix m) || m.groups() != ((Int8GroupedMatrix) matrices[0]).groups()) {
                throw new IllegalArgumentException("a weight is stored as " + matrices[e].typeName()
                        + ", not int8 with bf16 scales like the others");
            }
            q[e] = m;
        }
        int k = q[0].inputDim(), n = q[0].outputDim(), g = q[0].groups();
        long[] scaleShape = shape.length == 3 ? new long[] {q.length, g, n} : new long[] {g, n};
        Payload weight = new Payload() {
            @Override public long size() { return (long) q.length * k * n; }
            @Override public void writeTo(Out out) throws IOException {
                for (Int8GroupedMatrix m : q) {
                    for (int r = 0; r < k; r++) {
                        out.write(m.weightRow(r));
                    }
                }
            }
        };
        Payload scales = new Payload() {
            @Override public long size() { return 2L * q.length * g * n; }
            @Override public void writeTo(Out out) throws IOException {
                for (Int8GroupedMatrix m : q) {
                    for (int i = 0; i < g; i++) {
                        out.write(m.scaleRow(i));
                    }
                }
            }
        };
        Pickler p = new Pickler();
        p.quantizedWeight(weight, shape, scales, scaleShape);
        return p;
    }

    private static void writeShard(Path ckpt, int index, Pickler p) throws IOException {
        try (FileChannel ch = FileChannel.open(ckpt.resolve(CheckpointLayout.fileName(index)), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
             Out out = new Out(ch)) {
            p.finish(out);
        }
    }

    /** A buffered little-endian channel writer. */
    private static final class Out implements AutoCloseable {
        private final WritableByteChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        /** The whole of {@code buf} (a segment of a buffer starts at the buffer's position: taken while it is 0). */
        private final MemorySegment bufSegment = MemorySegment.ofBuffer(buf);

        Out(WritableByteChannel ch) {
            this.ch = ch;
        }

        void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                if (!buf.hasRemaining()) {
                    flush();
                }
                int c = Math.min(len, buf.remaining());
                buf.put(b, off, c);
                off += c;
                len -= c;
            }
        }

        void write(MemorySegment seg) throws IOException {
            long off = 0, len = seg.byteSize();
            while (off < len) {
                if (!buf.hasRemaining()) {
                    flush();
                }
                int c = (int) Math.min(len - off, buf.remaining());
                MemorySegment.copy(seg, off, bufSegment, buf.position(), c);
                buf.position(buf.position() + c);
                off += c;
            }
        }

        void writeFloats(float[] v) throws IOException {
            for (float f : v) {
                if (buf.remaining() < 4) {
                    flush();
                }
                buf.putFloat(f);
            }
        }

        private void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            buf.clear();
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }

    /** A protocol-4 pickle of a C-order little-endian float32 ndarray. */
    public static byte[] f32Shard(float[] values, long... shape) {
        check(values.length, shape);
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return inMemory(p -> p.ndarray("f4", Payload.of(b.array()), shape));
    }

    /**
     * A protocol-4 pickle of {@code __main__.QuantizedWeight8bit(weight=int8 ndarray, scales=ml_dtypes.bfloat16
     * ndarray)}; {@code scales} are bfloat16 bit patterns.
     */
    public static byte[] quantizedShard(byte[] weight, long[] weightShape, short[] scales, long[] scaleShape) {
        check(weight.length, weightShape);
        check(scales.length, scaleShape);
        ByteBuffer s = ByteBuffer.allocate(2 * scales.length).order(ByteOrder.LITTLE_ENDIAN);
        s.asShortBuffer().put(scales);
        return inMemory(p -> p.quantizedWeight(Payload.of(weight), weightShape, Payload.of(s.array()), scaleShape));
    }

    @FunctionalInterface
    private interface PickleBody {
        void save(Pickler p) throws IOException;
    }

    /** A pickle built in memory (nothing can fail: no I/O). */
    private static byte[] inMemory(PickleBody body) {
        try {
            Pickler p = new Pickler();
            body.save(p);
            return p.finishInMemory();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void check(int n, long[] shape) {
        long prod = 1;
        for (long d : shape) {
            prod *= d;
        }
        if (prod != n) {
            throw new IllegalArgumentException(n + " elements for shape " + java.util.Arrays.toString(shape));
        }
    }

    /** {@code config.json} with the keys of {@code fixtures/grok-1-tiny/config.json}. */
    public static String configJson(GrokConfig c) {
        return String.format(Locale.ROOT, """
                {
                 "model_type": "grok-1",
                 "vocab_size": %d,
                 "hidden_size": %d,
                 "num_hidden_layers": %d,
                 "num_attention_heads": %d,
                 "num_key_value_heads": %d,
                 "head_dim": %d,
                 "intermediate_size": %d,
                 "num_experts": %d,
                 "num_experts_per_tok": %d,
                 "max_position_embeddings": %d,
                 "rms_norm_eps": %s,
                 "rope_theta": %s,
                 "embedding_multiplier_scale": %s,
                 "output_multiplier_scale": %s,
                 "attn_output_multiplier": %s,
                 "attn_logit_softcapping": %s,
                 "pad_token_id": %d,
                 "bos_token_id": %d,
                 "eos_token_id": %d
                }
                """, c.vocabSize(), c.dModel(), c.layers(), c.queryHeads(), c.kvHeads(), c.headDim(), c.expertFfn(),
                c.experts(), c.expertsPerToken(), c.contextLength(), c.rmsEps(), c.ropeTheta(), c.embeddingMultiplier(),
                c.outputMultiplier(), c.attnOutputMultiplier(), c.attnSoftcap(), c.padId(), c.bosId(), c.eosId());
    }

    /** Writes {@code root/config.json} and creates {@code root/ckpt-0/}; returns the latter for the shards. */
    public static Path startCheckpoint(Path root, GrokConfig c) throws IOException {
        Files.createDirectories(root);
        Files.writeString(root.resolve("config.json"), configJson(c));
        return Files.createDirectories(root.resolve("ckpt-0"));
    }

    /** One element of a tuple, saved when the tuple is. */
    @FunctionalInterface
    private interface Item {
        void save() throws IOException;
    }

    /**
     * The emulated pickler: one instance per shard. Its output is a list of pieces: pickle bytes, and between them the
     * payloads of 64 KiB or more, which Python writes outside any frame and which are streamed from their source.
     */
    private static final class Pickler {
        private static final int FRAME_TARGET = 64 * 1024;
        private static final int FRAME_MIN = 4;

        private final List<Object> pieces = new ArrayList<>();
        private ByteArrayOutputStream file = new ByteArrayOutputStream();
        private ByteArrayOutputStream frame;
        /** Objects Python would find in its memo (by identity), keyed by what makes them the same object. */
        private final Map<String, Integer> memo = new HashMap<>();
        private int memoSize;

        Pickler() {
            file.write(0x80);
            file.write(4);              // PROTO 4, written before framing starts
            frame = new ByteArrayOutputStream();
        }

        /** Ends the pickle and writes it, streaming the large payloads. */
        void finish(Out out) throws IOException {
            op('.');                    // STOP
            if (frame.size() > 0) {
                commitFrame(true);
            }
            pieces.add(file.toByteArray());
            for (Object piece : pieces) {
                if (piece instanceof byte[] b) {
                    out.write(b, 0, b.length);
                } else {
                    ((Payload) piece).writeTo(out);
                }
            }
        }

        byte[] finishInMemory() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            try (Out o = new Out(Channels.newChannel(b))) {
                finish(o);
            }
            return b.toByteArray();
        }

        // ---- framing and memo, as pickle._Framer / Pickler.save ----

        private void commitFrame(boolean force) {
            if (frame.size() >= FRAME_TARGET || force) {
                if (frame.size() >= FRAME_MIN) {
                    file.write(0x95);
                    le(file, frame.size(), 8);
                }
                file.writeBytes(frame.toByteArray());
                frame = new ByteArrayOutputStream();
            }
        }

        /** The start of {@code Pickler.save}: close a full frame, then look the object up in the memo. */
        private boolean save(String identity) {
            commitFrame(false);
            Integer at = identity == null ? null : memo.get(identity);
            if (at == null) {
                return false;
            }
            if (at < 256) {
                op('h', at);            // BINGET
            } else {
                op('j');                // LONG_BINGET
                le(frame, at, 4);
            }
            return true;
        }

        private void memoize(String identity) {
            op(0x94);                   // MEMOIZE
            if (identity != null) {
                memo.put(identity, memoSize);
            }
            memoSize++;
        }

        private void op(int... bytes) {
            for (int b : bytes) {
                frame.write(b);
            }
        }

        private static void le(ByteArrayOutputStream out, long v, int n) {
            for (int i = 0; i < n; i++) {
                out.write((int) (v >>> (8 * i)));
            }
        }

        // ---- save_* for the types a shard holds ----

        void str(String s, String identity) {
            if (save(identity)) {
                return;
            }
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            if (b.length < 256) {
                op(0x8c, b.length);     // SHORT_BINUNICODE
            } else {
                op('X');                // BINUNICODE
                le(frame, b.length, 4);
            }
            frame.writeBytes(b);
            memoize(identity);
        }

        void integer(long v) {
            save(null);
            if (v >= 0 && v <= 0xff) {
                op('K', (int) v);
            } else if (v >= 0 && v <= 0xffff) {
                op('M');
                le(frame, v, 2);
            } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
                op('J');
                le(frame, v, 4);
            } else {
                throw new IllegalArgumentException("LONG1 not needed for shards: " + v);
            }
        }

        void none() {
            save(null);
            op('N');
        }

        void bool(boolean v) {
            save(null);
            op(v ? 0x88 : 0x89);
        }

        /**
         * save_bytes: short ones inline, 64 KiB and more outside any frame (Framer.write_large_bytes), with
         * BINBYTES8 from 4 GiB.
         */
        void bytes(Payload p, String identity) throws IOException {
            if (save(identity)) {
                return;
            }
            long size = p.size();
            if (size <= 0xff) {
                op('C', (int) size);
                frame.writeBytes(p.toArray());
            } else if (size >= FRAME_TARGET) {
                commitFrame(true);
                if (size > 0xFFFF_FFFFL) {
                    file.write(0x8e);   // BINBYTES8
                    le(file, size, 8);
                } else {
                    file.write('B');
                    le(file, size, 4);
                }
                pieces.add(file.toByteArray());
                pieces.add(p);
                file = new ByteArrayOutputStream();
            } else {
                op('B');
                le(frame, size, 4);
                frame.writeBytes(p.toArray());
            }
            memoize(identity);
        }

        /** save_tuple: {@code ()} unmemoized, up to 3 items with TUPLE1..3, more between MARK and TUPLE. */
        void tuple(Item... items) throws IOException {
            save(null);
            if (items.length == 0) {
                op(')');
                return;
            }
            if (items.length > 3) {
                op('(');
            }
            for (Item r : items) {
                r.save();
            }
            op(items.length > 3 ? 't' : 0x85 + items.length - 1);
            memoize(null);
        }

        /** save_global with protocol 4: module and name strings, STACK_GLOBAL. */
        void global(String module, String name) {
            String identity = "global " + module + "." + name;
            if (save(identity)) {
                return;
            }
            str(module, "str " + module);
            str(name, "str " + name);
            op(0x93);
            memoize(identity);
        }

        void shape(long[] shape) throws IOException {
            Item[] dims = new Item[shape.length];
            for (int i = 0; i < shape.length; i++) {
                long d = shape[i];
                dims[i] = () -> integer(d);
            }
            tuple(dims);
        }

        /** numpy's {@code dtype.__reduce__}: {@code dtype(name, False, True)} then BUILD with its state. */
        void dtype(String name) throws IOException {
            save(null);
            global("numpy", "dtype");
            boolean bf16 = name.equals("bfloat16");
            tuple(bf16 ? () -> global("ml_dtypes", "bfloat16") : () -> str(name, null), () -> bool(false), () -> bool(true));
            op('R');
            memoize(null);
            String order = name.equals("i1") ? "|" : "<";
            long elsize = bf16 ? 2 : -1, align = bf16 ? 2 : -1, flags = bf16 ? 0x10 : 0;
            tuple(() -> integer(3), () -> str(order, null), this::none, this::none, this::none,
                    () -> integer(elsize), () -> integer(align), () -> integer(flags));
            op('b');
        }

        /** numpy's {@code ndarray.__reduce__} (named {@code numpy.core.multiarray._reconstruct} as numpy 1.x did). */
        void ndarray(String dtype, Payload raw, long[] shape) throws IOException {
            save(null);
            global("numpy.core.multiarray", "_reconstruct");
            tuple(() -> global("numpy", "ndarray"), () -> tuple(() -> integer(0)),
                    () -> bytes(Payload.of(new byte[] {'b'}), "bytes b"));
            op('R');
            memoize(null);
            tuple(() -> integer(1), () -> shape(shape), () -> dtype(dtype), () -> bool(false), () -> bytes(raw, null));
            op('b');
        }

        /** A dataclass instance: {@code copyreg.__newobj__} reduction, then its {@code __dict__} as the state. */
        void quantizedWeight(Payload weight, long[] weightShape, Payload scales, long[] scaleShape) throws IOException {
            save(null);
            global("__main__", "QuantizedWeight8bit");
            tuple();
            op(0x81);                   // NEWOBJ
            memoize(null);
            save(null);
            op('}');                    // EMPTY_DICT
            memoize(null);
            op('(');
            str("weight", null);
            ndarray("i1", weight, weightShape);
            str("scales", null);
            ndarray("bfloat16", scales, scaleShape);
            op('u');                    // SETITEMS
            op('b');                    // BUILD
        }
    }
}
