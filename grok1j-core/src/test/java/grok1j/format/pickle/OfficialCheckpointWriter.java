package grok1j.format.pickle;

import grok1j.model.GrokConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Writes checkpoints in the official Grok-1 format (spec §4) for tests: {@code ckpt-0/tensorNNNNN_000} shards that
 * are byte for byte what {@code shared/reference/ckpt_writer.py} (Python's protocol-4 pickler over numpy arrays)
 * produces, plus a {@code config.json}.
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

    /** A protocol-4 pickle of a C-order little-endian float32 ndarray. */
    public static byte[] f32Shard(float[] values, long... shape) {
        check(values.length, shape);
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        Pickler p = new Pickler();
        p.ndarray("f4", b.array(), shape);
        return p.finish();
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
        Pickler p = new Pickler();
        p.quantizedWeight(weight, weightShape, s.array(), scaleShape);
        return p.finish();
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

    /** The emulated pickler: one instance per shard. */
    private static final class Pickler {
        private static final int FRAME_TARGET = 64 * 1024;
        private static final int FRAME_MIN = 4;

        private final ByteArrayOutputStream file = new ByteArrayOutputStream();
        private ByteArrayOutputStream frame;
        /** Objects Python would find in its memo (by identity), keyed by what makes them the same object. */
        private final Map<String, Integer> memo = new HashMap<>();
        private int memoSize;

        Pickler() {
            file.write(0x80);
            file.write(4);              // PROTO 4, written before framing starts
            frame = new ByteArrayOutputStream();
        }

        byte[] finish() {
            op('.');                    // STOP
            if (frame.size() > 0) {
                commitFrame(true);
            }
            return file.toByteArray();
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

        /** save_bytes: short ones inline, 64 KiB and more outside any frame (Framer.write_large_bytes). */
        void bytes(byte[] b, String identity) {
            if (save(identity)) {
                return;
            }
            if (b.length <= 0xff) {
                op('C', b.length);
                frame.writeBytes(b);
            } else if (b.length >= FRAME_TARGET) {
                commitFrame(true);
                file.write('B');
                le(file, b.length, 4);
                file.writeBytes(b);
            } else {
                op('B');
                le(frame, b.length, 4);
                frame.writeBytes(b);
            }
            memoize(identity);
        }

        /** save_tuple: {@code ()} unmemoized, up to 3 items with TUPLE1..3, more between MARK and TUPLE. */
        void tuple(Runnable... items) {
            save(null);
            if (items.length == 0) {
                op(')');
                return;
            }
            if (items.length > 3) {
                op('(');
            }
            for (Runnable r : items) {
                r.run();
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

        void shape(long[] shape) {
            Runnable[] dims = new Runnable[shape.length];
            for (int i = 0; i < shape.length; i++) {
                long d = shape[i];
                dims[i] = () -> integer(d);
            }
            tuple(dims);
        }

        /** numpy's {@code dtype.__reduce__}: {@code dtype(name, False, True)} then BUILD with its state. */
        void dtype(String name) {
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
        void ndarray(String dtype, byte[] raw, long[] shape) {
            save(null);
            global("numpy.core.multiarray", "_reconstruct");
            tuple(() -> global("numpy", "ndarray"), () -> tuple(() -> integer(0)), () -> bytes(new byte[] {'b'}, "bytes b"));
            op('R');
            memoize(null);
            tuple(() -> integer(1), () -> shape(shape), () -> dtype(dtype), () -> bool(false), () -> bytes(raw, null));
            op('b');
        }

        /** A dataclass instance: {@code copyreg.__newobj__} reduction, then its {@code __dict__} as the state. */
        void quantizedWeight(byte[] weight, long[] weightShape, byte[] scales, long[] scaleShape) {
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
