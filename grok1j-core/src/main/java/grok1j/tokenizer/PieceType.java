package grok1j.tokenizer;

/**
 * The type of a SentencePiece vocabulary entry ({@code ModelProto.SentencePiece.Type}), with its wire value.
 *
 * <p>How each type behaves in grok1j (spec §7.2-7.3):
 * <ul>
 *   <li>{@link #NORMAL}: learned subword; BPE merges may produce it.</li>
 *   <li>{@link #UNKNOWN}: the unknown piece; decodes to the model's {@code unk_surface}.</li>
 *   <li>{@link #CONTROL}: BOS/EOS/PAD style markers; never produced by encode, decode to "".</li>
 *   <li>{@link #USER_DEFINED}: matched greedily (longest first) in the input and never merged further.</li>
 *   <li>{@link #UNUSED}: may appear during merging but is split back into its parts on output.</li>
 *   <li>{@link #BYTE}: {@code <0xXX>} byte-fallback pieces for characters outside the vocabulary.</li>
 * </ul>
 */
public enum PieceType {
    NORMAL(1), UNKNOWN(2), CONTROL(3), USER_DEFINED(4), UNUSED(5), BYTE(6);

    private static final PieceType[] BY_WIRE_VALUE = {null, NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE};

    /** The enum number used in the protobuf encoding. */
    public final int wireValue;

    PieceType(int wireValue) {
        this.wireValue = wireValue;
    }

    /** @return the type with this protobuf enum number, or {@code null} if there is none */
    static PieceType fromWireValue(long value) {
        return value >= 1 && value < BY_WIRE_VALUE.length ? BY_WIRE_VALUE[(int) value] : null;
    }
}
