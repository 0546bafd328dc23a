package grok1j.format.gguf;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The value types the metadata keys grok1j reads must have. A known key with another type (scores stored as
 * INT32, tokens that are not strings, a BOS id that is a string) is refused when the file is opened, with one line
 * naming the key, rather than read as something it is not. Unknown keys may have any type.
 */
final class GgufKnownKeys {
    private static final Set<GgufValueType> INTEGERS = EnumSet.of(GgufValueType.UINT8, GgufValueType.INT8,
            GgufValueType.UINT16, GgufValueType.INT16, GgufValueType.UINT32, GgufValueType.INT32,
            GgufValueType.UINT64, GgufValueType.INT64);
    private static final Set<GgufValueType> FLOATS = EnumSet.of(GgufValueType.FLOAT32, GgufValueType.FLOAT64);
    private static final Set<GgufValueType> STRING = EnumSet.of(GgufValueType.STRING);
    private static final Set<GgufValueType> BOOL = EnumSet.of(GgufValueType.BOOL);

    /** Scalar keys and their allowed types. */
    private static final Map<String, Set<GgufValueType>> SCALARS = Map.ofEntries(
            Map.entry("general.architecture", STRING),
            Map.entry("general.name", STRING),
            Map.entry("general.alignment", EnumSet.of(GgufValueType.UINT32)),
            Map.entry("tokenizer.ggml.model", STRING),
            Map.entry("tokenizer.ggml.pre", STRING),
            Map.entry("tokenizer.ggml.bos_token_id", INTEGERS),
            Map.entry("tokenizer.ggml.eos_token_id", INTEGERS),
            Map.entry("tokenizer.ggml.unknown_token_id", INTEGERS),
            Map.entry("tokenizer.ggml.padding_token_id", INTEGERS),
            Map.entry("tokenizer.ggml.add_bos_token", BOOL),
            Map.entry("tokenizer.ggml.add_eos_token", BOOL),
            Map.entry(GgufFile.SPLIT_NO, INTEGERS),
            Map.entry(GgufFile.SPLIT_COUNT, INTEGERS),
            Map.entry(GgufFile.SPLIT_TENSORS_COUNT, INTEGERS));

    /** Array keys and their allowed element types. */
    private static final Map<String, Set<GgufValueType>> ARRAYS = Map.of(
            "tokenizer.ggml.tokens", STRING,
            "tokenizer.ggml.scores", FLOATS,
            "tokenizer.ggml.token_type", INTEGERS,
            "tokenizer.ggml.merges", STRING);

    private GgufKnownKeys() {}

    /** @throws GgufFormatException naming the first known key whose type is wrong */
    static void check(Path file, Map<String, Object> metadata, Map<String, GgufValueType> types) {
        for (Map.Entry<String, GgufValueType> e : types.entrySet()) {
            String key = e.getKey();
            GgufValueType t = e.getValue();
            Set<GgufValueType> scalar = SCALARS.get(key);
            if (scalar != null && !scalar.contains(t)) {
                throw new GgufFormatException(file + ": metadata " + key + " must be " + names(scalar) + ", found " + t);
            }
            Set<GgufValueType> element = ARRAYS.get(key);
            if (element != null) {
                if (t != GgufValueType.ARRAY) {
                    throw new GgufFormatException(file + ": metadata " + key + " must be an array of " + names(element)
                            + ", found " + t);
                }
                GgufValueType et = ((GgufArray) metadata.get(key)).elementType();
                if (!element.contains(et)) {
                    throw new GgufFormatException(file + ": metadata " + key + " must be an array of "
                            + names(element) + ", found an array of " + et);
                }
            }
        }
    }

    private static String names(Set<GgufValueType> types) {
        return types == INTEGERS ? "an integer type" : types == FLOATS ? "FLOAT32 or FLOAT64"
                : types.size() == 1 ? types.iterator().next().toString() : types.toString();
    }
}
