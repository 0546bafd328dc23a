package grok1j.format.pickle;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes pickle opcodes by hand for tests, following the byte layout of spec §4.4 (the way numpy and the release's
 * pickler lay out a shard). {@link #payloadOffsets} records where each bytes payload landed.
 */
final class PickleBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final java.util.List<Long> payloadOffsets = new java.util.ArrayList<>();

    PickleBytes op(int... bytes) {
        for (int b : bytes) out.write(b);
        return this;
    }

    PickleBytes le(long v, int n) {
        for (int i = 0; i < n; i++) out.write((int) (v >>> (8 * i)));
        return this;
    }

    PickleBytes raw(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    int size() {
        return out.size();
    }

    byte[] bytes() {
        return out.toByteArray();
    }

    // ---- single opcodes ----

    PickleBytes proto() { return op(0x80, 4); }
    PickleBytes frame(long n) { return op(0x95).le(n, 8); }
    PickleBytes memoize() { return op(0x94); }
    PickleBytes mark() { return op('('); }
    PickleBytes stop() { return op('.'); }

    PickleBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return op(0x8c, b.length).raw(b).memoize();
    }

    PickleBytes stackGlobal(String module, String name) {
        return str(module).str(name).op(0x93).memoize();
    }

    PickleBytes global(String module, String name) {
        return op('c').raw((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8)).memoize();
    }

    /** BININT1 / BININT2 / BININT by magnitude, as the pickler does. */
    PickleBytes integer(long v) {
        if (v >= 0 && v < 256) return op('K', (int) v);
        if (v >= 0 && v < 65536) return op('M').le(v, 2);
        return op('J').le(v, 4);
    }

    PickleBytes shapeTuple(long... shape) {
        if (shape.length == 0) return op(')');
        if (shape.length <= 3) {
            for (long d : shape) integer(d);
            return op(0x85 + shape.length - 1).memoize();
        }
        mark();
        for (long d : shape) integer(d);
        return op('t').memoize();
    }

    /** SHORT_BINBYTES / BINBYTES / BINBYTES8 by size, recording the payload offset. */
    PickleBytes binbytes(byte[] payload) {
        if (payload.length < 256) op('C', payload.length);
        else op('B').le(payload.length, 4);
        payloadOffsets.add((long) out.size());
        return raw(payload);
    }

    // ---- numpy structures (spec §4.4) ----

    /** The ndarray pickle of spec §4.4; {@code dtype} is "f4", "i1" or "bfloat16". */
    PickleBytes ndarray(String dtype, String order, boolean fortran, byte[] payload, long... shape) {
        stackGlobal("numpy.core.multiarray", "_reconstruct");
        stackGlobal("numpy", "ndarray");
        op('K', 0, 0x85).memoize().op('C', 1, 'b').memoize().op(0x87).memoize().op('R').memoize();
        mark().integer(1).shapeTuple(shape);
        dtypeObject(dtype, order);
        op(fortran ? 0x88 : 0x89);
        binbytes(payload).memoize();
        return op('t').memoize().op('b');
    }

    PickleBytes dtypeObject(String dtype, String order) {
        stackGlobal("numpy", "dtype");
        if (dtype.equals("bfloat16")) stackGlobal("ml_dtypes", "bfloat16");
        else str(dtype);
        op(0x89, 0x88, 0x87).memoize().op('R').memoize();
        mark().integer(3).str(order).op('N', 'N', 'N');
        if (dtype.equals("bfloat16")) integer(2).integer(2).integer(16);
        else op('J').le(-1, 4).op('J').le(-1, 4).integer(0);
        return op('t').memoize().op('b');
    }

    /** {@code __main__.QuantizedWeight8bit(weight=int8, scales=bf16)}. */
    PickleBytes quantized(byte[] q, long[] qShape, byte[] scales, long[] sShape) {
        stackGlobal("__main__", "QuantizedWeight8bit");
        op(')', 0x81).memoize().op('}').memoize().mark();
        str("weight").ndarray("i1", "|", false, q, qShape);
        str("scales").ndarray("bfloat16", "<", false, scales, sShape);
        return op('u', 'b');
    }

    // ---- whole shards ----

    static byte[] shardOf(java.util.function.Consumer<PickleBytes> body) {
        PickleBytes p = new PickleBytes();
        p.proto();
        body.accept(p);
        return p.stop().bytes();
    }

    static byte[] f32Shard(float[] values, long... shape) {
        return shardOf(p -> p.ndarray("f4", "<", false, f32(values), shape));
    }

    static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    static byte[] bf16(float... v) {
        ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putShort((short) (Float.floatToRawIntBits(f) >>> 16)); // test values are exact in bf16
        return b.array();
    }
}
