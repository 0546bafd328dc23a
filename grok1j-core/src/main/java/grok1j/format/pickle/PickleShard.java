package grok1j.format.pickle;

import grok1j.format.ModelFormatException;
import java.nio.file.Path;

/**
 * The parsed header of one {@code ckpt-0/tensorNNNNN_000} file (spec §4.1, §4.4): either a bare numpy array
 * ({@link #scales()} is null) or a {@code __main__.QuantizedWeight8bit} whose {@link #array()} is the int8 weight
 * and {@link #scales()} the bfloat16 scales. Only offsets are kept; payloads are mapped later.
 *
 * @param file     the shard
 * @param size     its size in bytes when parsed; every payload lies inside {@code [0, size)}
 * @param protocol pickle protocol from the PROTO opcode (4 for the release), 0 if absent
 * @param array    the bare array, or the quantized weight
 * @param scales   the quantization scales, or null for a bare array
 */
public record PickleShard(Path file, long size, int protocol, PickledArray array, PickledArray scales) {

    /**
     * Parses the pickle header of {@code file} without executing anything and without reading the payloads.
     *
     * @throws ModelFormatException naming the file and offset if the pickle is truncated, uses an opcode or
     *                              global outside spec §4.4, or describes an array this engine cannot map
     */
    public static PickleShard read(Path file) throws ModelFormatException {
        return RestrictedUnpickler.parse(file);
    }

    /** True for a {@code QuantizedWeight8bit} (int8 weight + bf16 scales). */
    public boolean quantized() {
        return scales != null;
    }

    /** The shard's file name, used to prefix messages. */
    public String name() {
        return file.getFileName().toString();
    }

    /** Payload bytes (weight plus scales). */
    public long payloadBytes() {
        return array.length() + (scales == null ? 0 : scales.length());
    }
}
