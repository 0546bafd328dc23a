package grok1j.format.gguf;

import grok1j.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One parsed GGUF file (a whole model or one shard of a split model), memory-mapped read-only.
 *
 * <p>Layout (GGUF v2/v3, little-endian): magic {@code "GGUF"}, u32 version, u64 tensor count, u64 metadata count,
 * the metadata key/value pairs, the tensor infos ({@code string name, u32 n_dims, u64 ne[n_dims], u32 type,
 * u64 offset}), padding to {@code general.alignment} (default 32), then the tensor data; each tensor's offset is
 * relative to the start of the data and must be a multiple of the alignment. Version 1 (32-bit counts) is refused.
 *
 * <p>Every count and length is checked against the bytes left before it is used, every tensor extent against the
 * file size, so any input either parses or fails with a one-line {@link GgufFormatException}.
 */
final class GgufShard {
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
    static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_DIMS = 4;

    final Path path;
    final int version;
    final int alignment;
    final Map<String, Object> metadata;
    final Map<String, GgufValueType> types;
    final List<GgufTensor> tensors;
    final long dataStart;
    /** The whole file as mapped. */
    final MemorySegment mapping;

    private GgufShard(Path path, int version, int alignment, Map<String, Object> metadata, Map<String, GgufValueType> types,
                      List<GgufTensor> tensors, long dataStart, MemorySegment mapping) {
        this.path = path;
        this.mapping = mapping;
        this.version = version;
        this.alignment = alignment;
        this.metadata = metadata;
        this.types = types;
        this.tensors = tensors;
        this.dataStart = dataStart;
    }

    /**
     * Maps and parses {@code path}; the mapping belongs to {@code arena}.
     *
     * @throws IOException          if the file cannot be opened or mapped
     * @throws GgufFormatException  if the file is not a valid GGUF file
     */
    static GgufShard open(Path path, Arena arena) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : grok1j.format.FileMapping.readOnly(path, ch, 0, size, arena);
        }
        return parse(path, seg);
    }

    static GgufShard parse(Path path, MemorySegment seg) {
        GgufCursor c = new GgufCursor(path, seg, 0);
        int magic = c.i32("header (magic)");
        if (magic != MAGIC) {
            throw c.error(0, String.format("not a GGUF file (magic 0x%08x, expected \"GGUF\")", magic));
        }
        int version = c.i32("header (version)");
        if (version == 1) {
            throw c.error(4, "GGUF version 1 is not supported (only 2 and 3)");
        }
        if (version != 2 && version != 3) {
            String hint = Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3
                    ? " (a big-endian file; only little-endian GGUF is supported)" : "";
            throw c.error(4, "unsupported GGUF version " + Integer.toUnsignedString(version) + hint);
        }
        long tensorCount = c.count("tensor count", 24);
        long kvCount = c.count("metadata count", 13);

        Map<String, Object> metadata = new LinkedHashMap<>();
        Map<String, GgufValueType> types = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long at = c.pos;
            c.context = "metadata key";
            String key = c.string("metadata key");
            GgufValueType t = c.valueType("metadata value type of " + key);
            c.context = "metadata " + key;
            Object v = c.value(t, 0);
            if (metadata.containsKey(key)) {
                throw c.error(at, "duplicate metadata key " + key);
            }
            metadata.put(key, v);
            types.put(key, t);
        }

        GgufKnownKeys.check(path, metadata, types);

        int alignment = DEFAULT_ALIGNMENT;
        if (metadata.containsKey("general.alignment")) {
            Object a = metadata.get("general.alignment");
            if (types.get("general.alignment") != GgufValueType.UINT32 || (long) a <= 0 || (long) a > (1 << 30)
                    || Long.bitCount((long) a) != 1) {
                throw new GgufFormatException(path + ": general.alignment must be a power-of-two uint32, got "
                        + types.get("general.alignment") + " " + a);
            }
            alignment = (int) (long) a;
        }

        List<long[]> infos = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<GgmlType> ttypes = new ArrayList<>();
        List<long[]> infosNe = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (long i = 0; i < tensorCount; i++) {
            long at = c.pos;
            c.context = "tensor name";
            String name = c.string("tensor name");
            if (!seen.add(name)) {
                throw c.error(at, "duplicate tensor name " + name);
            }
            long dimsAt = c.pos;
            long nDims = c.u32("tensor dimension count");
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw c.error(dimsAt, "tensor " + name + " has " + nDims + " dimensions (1 to " + MAX_DIMS + " allowed)");
            }
            long[] ne = new long[(int) nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                long dimAt = c.pos;
                ne[d] = c.i64("tensor dimension");
                if (ne[d] < 0) {
                    throw c.error(dimAt, "tensor " + name + " dimension " + d + " is " + Long.toUnsignedString(ne[d]));
                }
                try {
                    elements = Math.multiplyExact(elements, ne[d]);
                } catch (ArithmeticException e) {
                    throw c.error(dimAt, "tensor " + name + " dimensions overflow a 64-bit element count");
                }
            }
            long typeAt = c.pos;
            long typeId = c.u32("tensor type");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw c.error(typeAt, "tensor " + name + " has unknown ggml type id " + typeId);
            }
            if (ne[0] % type.blockSize() != 0) {
                throw c.error(dimsAt, "tensor " + name + " row length " + ne[0] + " is not a multiple of the "
                        + type + " block size " + type.blockSize());
            }
            long bytes;
            try {
                bytes = type.bytesFor(elements);
            } catch (ArithmeticException e) {
                throw c.error(dimsAt, "tensor " + name + " byte size overflows 64 bits");
            }
            long offAt = c.pos;
            long offset = c.i64("tensor offset");
            infos.add(new long[] {offAt, offset, bytes});
            names.add(name);
            ttypes.add(type);
            infosNe.add(ne);
        }
        long dataStart = alignUp(c.pos, alignment);
        long dataBytes = seg.byteSize() - dataStart;

        List<GgufTensor> tensors = new ArrayList<>(names.size());
        for (int i = 0; i < names.size(); i++) {
            long[] inf = infos.get(i);
            long offset = inf[1];
            long bytes = inf[2];
            String name = names.get(i);
            if (offset < 0 || offset % alignment != 0) {
                throw GgufFormatException.tensor(path, name, "data offset " + Long.toUnsignedString(offset)
                        + " (header offset " + inf[0] + ") is not a multiple of the alignment " + alignment);
            }
            if (dataBytes < 0 || offset > dataBytes || bytes > dataBytes - offset) {
                throw GgufFormatException.tensor(path, name, "data [" + (dataStart + offset) + ", "
                        + (dataStart + offset + bytes) + ") lies outside the file (" + seg.byteSize()
                        + " bytes; truncated?)");
            }
            tensors.add(new GgufTensor(name, ttypes.get(i), infosNe.get(i), path, dataStart + offset,
                    seg.asSlice(dataStart + offset, bytes)));
        }
        refuseOverlaps(path, tensors);
        return new GgufShard(path, version, alignment, Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(types), List.copyOf(tensors), dataStart, seg);
    }

    /**
     * Two tensors whose data ranges overlap (or coincide) would alias each other's weights: no writer makes such a
     * file, so it is refused, naming both tensors. Empty tensors hold no bytes and overlap nothing.
     */
    private static void refuseOverlaps(Path path, List<GgufTensor> tensors) {
        List<GgufTensor> sorted = new ArrayList<>(tensors);
        sorted.removeIf(t -> t.data().byteSize() == 0);
        sorted.sort(java.util.Comparator.comparingLong(GgufTensor::offset));
        for (int i = 1; i < sorted.size(); i++) {
            GgufTensor a = sorted.get(i - 1), b = sorted.get(i);
            long aEnd = a.offset() + a.data().byteSize();
            if (b.offset() < aEnd) {
                throw GgufFormatException.tensor(path, b.name(), "data [" + b.offset() + ", "
                        + (b.offset() + b.data().byteSize()) + ") overlaps the data of tensor " + a.name() + " ["
                        + a.offset() + ", " + aEnd + ")");
            }
        }
    }

    static long alignUp(long v, long a) {
        return (v + a - 1) / a * a;
    }
}
