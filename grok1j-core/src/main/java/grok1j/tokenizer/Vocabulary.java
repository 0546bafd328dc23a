package grok1j.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A {@link SentencePieceModel} prepared for encoding and decoding: lookup tables, the user-defined piece matcher,
 * byte-piece ids, and the normalization step. Immutable and thread-safe.
 */
final class Vocabulary {
    private static final char SPACE_SYMBOL = '\u2581'; // "▁", LOWER ONE EIGHTH BLOCK

    private final SentencePieceModel model;
    private final UserSymbolMatcher userSymbols;
    private final int unknownId;
    private final int[] byteIds = new int[256];
    private final int[] byteValues;

    Vocabulary(SentencePieceModel model) {
        this.model = model;
        int n = model.size();
        List<String> userDefined = new ArrayList<>();
        byteValues = new int[n];
        Arrays.fill(byteValues, -1);
        Arrays.fill(byteIds, -1);
        int unk = -1;
        for (int id = 0; id < n; id++) {
            switch (model.type(id)) {
                case USER_DEFINED -> userDefined.add(model.piece(id));
                case UNKNOWN -> unk = id;
                case BYTE -> {
                    int b = SentencePieceModel.byteOfPiece(model.piece(id));
                    byteValues[id] = b;
                    byteIds[b] = id;
                }
                default -> {
                }
            }
        }
        unknownId = unk; // SentencePieceModel guarantees exactly one
        userSymbols = new UserSymbolMatcher(userDefined);
    }

    SentencePieceModel model() {
        return model;
    }

    int size() {
        return model.size();
    }

    String piece(int id) {
        return model.piece(id);
    }

    PieceType type(int id) {
        return model.type(id);
    }

    float score(int id) {
        return model.score(id);
    }

    PieceTable mergeable() {
        return model.mergeablePieces();
    }

    PieceTable reserved() {
        return model.reservedPieces();
    }

    UserSymbolMatcher userSymbols() {
        return userSymbols;
    }

    /** The id of the (single) UNKNOWN piece. */
    int unknownId() {
        return unknownId;
    }

    boolean byteFallback() {
        return model.trainer().byteFallback();
    }

    /** @return the id of the {@code <0xXX>} piece for byte {@code b} (0-255); only with byte fallback */
    int byteId(int b) {
        return byteIds[b];
    }

    /** @return the byte a BYTE piece stands for, or -1 if {@code id} is not a byte piece */
    int byteValue(int id) {
        return byteValues[id];
    }

    boolean addDummyPrefix() {
        return model.normalizer().addDummyPrefix();
    }

    String unkSurface() {
        return model.trainer().unkSurface();
    }

    /** SentencePiece's PieceToId without the unknown fallback: control/unknown/byte pieces first, then the rest. */
    int pieceId(String piece) {
        int id = reserved().get(piece);
        return id >= 0 ? id : mergeable().get(piece);
    }

    /**
     * The identity normalizer of spec §7.2 step 1: "▁" in front (add_dummy_prefix), every ' ' replaced by "▁"
     * (escape_whitespaces), nothing else changed. A lone UTF-16 surrogate, which has no UTF-8 form, becomes U+FFFD,
     * as SentencePiece does with a malformed UTF-8 byte.
     *
     * @return the normalized text; empty for empty input (no dummy prefix then)
     */
    char[] normalize(String text) {
        int n = text.length();
        if (n == 0) {
            return new char[0];
        }
        boolean escape = model.normalizer().escapeWhitespaces();
        char space = escape ? SPACE_SYMBOL : ' ';
        int offset = addDummyPrefix() ? 1 : 0;
        char[] out = new char[n + offset];
        if (offset == 1) {
            out[0] = space;
        }
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) {
                out[offset + i] = c;
                out[offset + ++i] = text.charAt(i);
            } else if (Character.isSurrogate(c)) {
                out[offset + i] = Utf8.REPLACEMENT;
            } else {
                out[offset + i] = c == ' ' ? space : c;
            }
        }
        return out;
    }
}
