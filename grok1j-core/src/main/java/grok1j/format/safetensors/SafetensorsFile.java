package grok1j.format.safetensors;

import grok1j.format.Json;
import grok1j.format.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One safetensors file, memory-mapped read-only; its tensors are views of the mapping.
 *
 * <p>Layout (grok-2 spec §3.3): a little-endian u64 N, N bytes of UTF-8 JSON (the header, possibly padded with
 * spaces), then the data section. The header maps each tensor name to {@code {"dtype", "shape", "data_offsets":
 * [begin, end]}} (offsets relative to the data section, end exclusive); the optional {@code __metadata__} maps
 * strings to strings. Opening refuses, with a one-line {@link ModelFormatException} naming the file and the tensor
 * or offset: a file shorter than 8 bytes, N above 100,000,000 or beyond the file, a header that is not UTF-8 or not
 * a JSON object, a duplicate name, an entry without exactly the three fields of the right types, an unknown dtype,
 * a byte range that disagrees with shape x dtype, lies outside the file, overlaps another, or leaves a gap (the
 * ranges must tile the data section exactly, as the reference library requires).
 *
 * <p>Immutable; the tensors are valid until the {@link Arena} passed to {@link #open} is closed.
 */
public final class SafetensorsFile {
    /** The reference library's limit on the header length. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";

    private final Path path;
    private final List<SafetensorsTensor> tensors;           // in data order
    private final Map<String, SafetensorsTensor> byName;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, List<SafetensorsTensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.tensors = List.copyOf(tensors);
        Map<String, SafetensorsTensor> m = new LinkedHashMap<>();
        for (SafetensorsTensor t : tensors) {
            m.put(t.name(), t);
        }
        this.byName = Collections.unmodifiableMap(m);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Maps {@code path} read-only into {@code arena} and validates its header.
     *
     * @throws ModelFormatException if the file is not a valid safetensors file (one line, naming the file)
     * @throws IOException          if it cannot be opened or mapped
     */
    public static SafetensorsFile open(Path path, Arena arena) throws IOException {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            file = size == 0 ? MemorySegment.ofArray(new byte[0]) : grok1j.format.FileMapping.readOnly(path, ch, 0, size, arena);
        }
        return parse(path, file);
    }

    /** Validates a safetensors file already in memory (the tensors are views of {@code file}). */
    public static SafetensorsFile parse(Path path, MemorySegment file) throws ModelFormatException {
        long length = file.byteSize();
        if (length < 8) {
            throw error(path, "truncated: " + length + " bytes, a safetensors file starts with an 8-byte header length");
        }
        long n = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw error(path, "header length " + Long.toUnsignedString(n) + " is beyond the limit of " + MAX_HEADER_BYTES
                    + " bytes (not a safetensors file?)");
        }
        if (8 + n > length) {
            throw error(path, "header length " + n + " is beyond the end of the file (" + length
                    + " bytes): truncated?");
        }
        Map<?, ?> header = header(path, file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE));
        long dataStart = 8 + n;
        MemorySegment data = file.asSlice(dataStart);
        List<SafetensorsTensor> tensors = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals(METADATA_KEY)) {
                readMetadata(path, e.getValue(), metadata);
                continue;
            }
            tensors.add(tensor(path, name, e.getValue(), data, dataStart));
        }
        checkTiling(path, tensors, dataStart, data.byteSize());
        return new SafetensorsFile(path, tensors, metadata);
    }

    private static Map<?, ?> header(Path path, byte[] bytes) throws ModelFormatException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw error(path, "the header is not valid UTF-8");
        }
        if (text.isEmpty() || text.charAt(0) != '{') {
            throw error(path, "the header does not start with '{' (not a safetensors file?)");
        }
        Object root;
        try {
            root = Json.parseRejectingDuplicateKeys(text);
        } catch (IllegalArgumentException e) {
            // a duplicate key is a duplicate tensor name; the parser's message quotes it
            throw error(path, "header: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> map)) {
            throw error(path, "the header is not a JSON object");
        }
        return map;
    }

    private static void readMetadata(Path path, Object value, Map<String, String> out) throws ModelFormatException {
        if (!(value instanceof Map<?, ?> m)) {
            throw error(path, METADATA_KEY + " must be an object of strings");
        }
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getValue() instanceof String v)) {
                throw error(path, METADATA_KEY + "." + e.getKey() + " must be a string");
            }
            out.put((String) e.getKey(), v);
        }
    }

    private static SafetensorsTensor tensor(Path path, String name, Object value, MemorySegment data, long dataStart)
            throws ModelFormatException {
        if (!(value instanceof Map<?, ?> entry) || entry.size() != 3 || !entry.containsKey("dtype")
                || !entry.containsKey("shape") || !entry.containsKey("data_offsets")) {
            throw tensorError(path, name, "expected an object with exactly \"dtype\", \"shape\" and \"data_offsets\"");
        }
        if (!(entry.get("dtype") instanceof String dtypeName)) {
            throw tensorError(path, name, "dtype must be a string");
        }
        SafetensorsDtype dtype = SafetensorsDtype.byName(dtypeName);
        if (dtype == null) {
            throw tensorError(path, name, "unknown dtype " + Json.quote(dtypeName));
        }
        long[] shape = longs(path, name, "shape", entry.get("shape"), -1);
        long[] offsets = longs(path, name, "data_offsets", entry.get("data_offsets"), 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw tensorError(path, name, "data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        long bytes;
        try {
            long count = 1;
            for (long d : shape) {
                count = Math.multiplyExact(count, d);
            }
            bytes = Math.multiplyExact(count, dtype.size);
        } catch (ArithmeticException e) {
            throw tensorError(path, name, "shape " + java.util.Arrays.toString(shape) + " is too large");
        }
        if (bytes != end - begin) {
            throw tensorError(path, name, "shape " + java.util.Arrays.toString(shape) + " x " + dtype + " is " + bytes
                    + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        if (end > data.byteSize()) {
            throw tensorError(path, name, "data_offsets [" + begin + ", " + end + "] end at file offset "
                    + (dataStart + end) + ", beyond the end of the file (" + (dataStart + data.byteSize()) + " bytes)");
        }
        return new SafetensorsTensor(path, name, dtype, shape, dataStart + begin, data.asSlice(begin, end - begin));
    }

    /** A JSON array of non-negative integers; {@code count} >= 0 requires that length. */
    private static long[] longs(Path path, String name, String field, Object value, int count)
            throws ModelFormatException {
        if (!(value instanceof List<?> list) || (count >= 0 && list.size() != count)) {
            throw tensorError(path, name, field + " must be an array of " + (count >= 0 ? count + " " : "")
                    + "non-negative integers");
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long v) || v < 0) {
                throw tensorError(path, name, field + "[" + i + "] is " + list.get(i)
                        + ", expected a non-negative integer");
            }
            out[i] = v;
        }
        return out;
    }

    /** Sorted by begin, the ranges must tile [0, dataLength) exactly: no overlap, no gap, no trailing bytes. */
    private static void checkTiling(Path path, List<SafetensorsTensor> tensors, long dataStart, long dataLength)
            throws ModelFormatException {
        tensors.sort(Comparator.comparingLong(SafetensorsTensor::fileOffset)
                .thenComparingLong(t -> t.data().byteSize()));
        long at = dataStart;
        String previous = null;
        for (SafetensorsTensor t : tensors) {
            if (t.fileOffset() < at) {
                throw tensorError(path, t.name(), "its data (file offsets " + t.fileOffset() + ".."
                        + (t.fileOffset() + t.data().byteSize()) + ") overlaps tensor " + previous + " (ends at " + at + ")");
            }
            if (t.fileOffset() > at) {
                throw tensorError(path, t.name(), "a gap of " + (t.fileOffset() - at) + " unused bytes before its data at file offset "
                        + t.fileOffset() + (previous == null ? " (the data section starts at " + dataStart + ")"
                        : " (after tensor " + previous + ")"));
            }
            at = t.fileOffset() + t.data().byteSize();
            previous = t.name();
        }
        if (at != dataStart + dataLength) {
            throw error(path, (dataStart + dataLength - at) + " trailing bytes after the last tensor's data (file offset "
                    + at + ")");
        }
    }

    static ModelFormatException error(Path path, String what) {
        return new ModelFormatException(path + ": " + what);
    }

    static ModelFormatException tensorError(Path path, String name, String what) {
        return new ModelFormatException(path + ": tensor " + name + ": " + what);
    }

    /** The file's path as opened. */
    public Path path() {
        return path;
    }

    /** Every tensor, in the order of its data in the file. */
    public List<SafetensorsTensor> tensors() {
        return tensors;
    }

    /** @return the tensor with this name, or null */
    public SafetensorsTensor tensor(String name) {
        return byName.get(name);
    }

    /** The header's {@code __metadata__} (e.g. {@code format: pt}); empty if absent. */
    public Map<String, String> metadata() {
        return metadata;
    }
}
