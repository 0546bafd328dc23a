package grok1j.format.safetensors;

/**
 * The element types a safetensors header may name ({@code "dtype"}), with their sizes in bytes. Any other name is
 * an error (grok-2 spec §3.3 item 4); which of these a model loader accepts is its own decision (Grok-2: BF16, and
 * F16/F32 for converted files).
 */
public enum SafetensorsDtype {
    BOOL(1), U8(1), I8(1), F8_E4M3(1), F8_E5M2(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    /** Bytes per element. */
    public final int size;

    SafetensorsDtype(int size) {
        this.size = size;
    }

    /** @return the dtype with this header name (e.g. {@code "BF16"}), or null if there is none */
    public static SafetensorsDtype byName(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }
}
