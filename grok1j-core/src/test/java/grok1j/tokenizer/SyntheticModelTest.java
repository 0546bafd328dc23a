package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * Encoder rules that the Grok-1 vocabulary never exercises (its normal pieces all have distinct scores, it has no
 * UNUSED pieces and it always uses byte fallback), on hand-built models. Ids 0-2 are {@code <unk> <s> </s>}.
 */
class SyntheticModelTest {
    private static final float SAME = -1f;

    /** {@code <unk> <s> </s>}, then 3 "▁", 4 "a", 5 "b", 6 "c". */
    private static ModelProtoBuilder abcModel() {
        return new ModelProtoBuilder().specialPieces().piece("\u2581", 0, PieceType.NORMAL)
                .piece("a", 0, PieceType.NORMAL).piece("b", 0, PieceType.NORMAL).piece("c", 0, PieceType.NORMAL);
    }

    @Test
    void equalScoresMergeLeftmostFirst() throws Exception {
        Tokenizer tok = abcModel()
                .piece("ab", SAME, PieceType.NORMAL)    // 7
                .piece("bc", SAME, PieceType.NORMAL)    // 8
                .tokenizer();
        assertArrayEquals(new int[] {3, 7, 6}, tok.encode("abc"));
        assertArrayEquals(new int[] {3, 7, 6, 3, 7, 6}, tok.encode("abc abc"));
    }

    @Test
    void higherScoreWinsOverPosition() throws Exception {
        Tokenizer tok = abcModel()
                .piece("ab", -2, PieceType.NORMAL)      // 7
                .piece("bc", -1, PieceType.NORMAL)      // 8
                .tokenizer();
        assertArrayEquals(new int[] {3, 4, 8}, tok.encode("abc"));
    }

    @Test
    void unusedPiecesMayBeMergedThroughButAreSplitOnOutput() throws Exception {
        Tokenizer tok = abcModel()
                .piece("ab", 10, PieceType.UNUSED)      // 7
                .piece("abc", 5, PieceType.NORMAL)      // 8
                .tokenizer();
        assertArrayEquals(new int[] {3, 8}, tok.encode("abc"), "ab (unused) is an intermediate of abc");
        assertArrayEquals(new int[] {3, 4, 5}, tok.encode("ab"), "a final unused piece is split into its parts");
    }

    @Test
    void withoutByteFallbackUnknownRunsBecomeOneUnknownId() throws Exception {
        Tokenizer tok = new ModelProtoBuilder().specialPieces()
                .piece("\u2581", 0, PieceType.NORMAL)   // 3
                .piece("a", 0, PieceType.NORMAL)        // 4
                .tokenizer();
        assertArrayEquals(new int[] {3, 4, 0, 4}, tok.encode("axyz😀a"));
        assertArrayEquals(new int[] {3, 0, 3, 0}, tok.encode("x y"), "the space piece separates unknown runs");
        assertEquals("a \u2047 a", tok.decode(new int[] {4, 0, 4}), "default unk_surface is \" ⁇ \"");
    }

    @Test
    void userDefinedPiecesAreLongestMatchAndFrozen() throws Exception {
        Tokenizer tok = new ModelProtoBuilder().specialPieces()
                .piece("\u2581", 0, PieceType.NORMAL)      // 3
                .piece("<", 0, PieceType.NORMAL)           // 4
                .piece("x", 0, PieceType.NORMAL)           // 5
                .piece(">", 0, PieceType.NORMAL)           // 6
                .piece("<x", 0, PieceType.USER_DEFINED)    // 7
                .piece("<x>", 0, PieceType.USER_DEFINED)   // 8
                .piece("\u2581<", 1, PieceType.NORMAL)     // 9: would merge with a free "<", never with a frozen one
                .piece(">>", 1, PieceType.NORMAL)          // 10
                .tokenizer();
        assertArrayEquals(new int[] {3, 8}, tok.encode("<x>"));
        assertArrayEquals(new int[] {3, 7, 5}, tok.encode("<xx"));
        assertArrayEquals(new int[] {3, 8, 6}, tok.encode("<x>>"), "the frozen <x> does not merge with >");
        assertArrayEquals(new int[] {3, 8, 10}, tok.encode("<x>>>"), "free symbols after it still merge");
        assertArrayEquals(new int[] {9}, tok.encode("<"), "a free < merges with the dummy prefix");
        assertEquals("<x>", tok.decode(new int[] {8}));
    }

    @Test
    void noDummyPrefixAndNoEscaping() throws Exception {
        Tokenizer tok = new ModelProtoBuilder().specialPieces()
                .piece("a", 0, PieceType.NORMAL)   // 3
                .piece(" ", 0, PieceType.NORMAL)   // 4
                .piece("a ", 1, PieceType.NORMAL)  // 5
                .normalizerField(n -> n.bool(3, false).bool(5, false))
                .tokenizer();
        assertArrayEquals(new int[] {5, 3}, tok.encode("a a"), "no \"▁\" in front, spaces stay spaces");
        assertArrayEquals(new int[] {4, 3}, tok.encode(" a"));
        assertEquals("a a", tok.decode(new int[] {5, 3}));
        assertEquals(" a", tok.decode(new int[] {4, 3}), "without a dummy prefix no space is dropped");
    }
}
