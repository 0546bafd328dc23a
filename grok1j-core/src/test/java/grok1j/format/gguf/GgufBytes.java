package grok1j.format.gguf;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes raw GGUF bytes field by field (little-endian), so tests can build valid and deliberately broken files
 * without going through {@code GgufWriter}.
 */
final class GgufBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    GgufBytes u8(int v) {
        out.write(v);
        return this;
    }

    GgufBytes u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    GgufBytes u32(long v) {
        for (int i = 0; i < 4; i++) {
            out.write((int) (v >>> (8 * i)));
        }
        return this;
    }

    GgufBytes u64(long v) {
        for (int i = 0; i < 8; i++) {
            out.write((int) (v >>> (8 * i)));
        }
        return this;
    }

    GgufBytes f32(float f) {
        return u32(Float.floatToRawIntBits(f));
    }

    GgufBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(b.length);
        out.writeBytes(b);
        return this;
    }

    GgufBytes bytes(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    /** GGUF header: magic, version, tensor count, metadata count. */
    GgufBytes header(int version, long tensors, long kvs) {
        return u32(0x46554747L).u32(version).u64(tensors).u64(kvs);
    }

    /** A key and its value type id; the caller writes the value. */
    GgufBytes key(String key, int type) {
        return str(key).u32(type);
    }

    GgufBytes tensorInfo(String name, long[] ne, int type, long offset) {
        str(name).u32(ne.length);
        for (long d : ne) {
            u64(d);
        }
        return u32(type).u64(offset);
    }

    /** Zero bytes up to the next multiple of {@code a}. */
    GgufBytes pad(int a) {
        while (out.size() % a != 0) {
            out.write(0);
        }
        return this;
    }

    int size() {
        return out.size();
    }

    byte[] toArray() {
        return out.toByteArray();
    }
}
