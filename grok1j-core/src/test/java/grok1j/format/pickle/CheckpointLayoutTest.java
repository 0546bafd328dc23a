package grok1j.format.pickle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.pickle.CheckpointLayout.Slot;
import grok1j.model.GrokConfig;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** File order of the release (spec §4.2): lexicographic layers, 12 slots each. */
class CheckpointLayoutTest {

    /** rank(str(L)) the slow way: sort the decimal strings as Python's sorted() would. */
    private static int rank(int layer, int layers) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < layers; i++) names.add(String.valueOf(i));
        names.sort(null);
        return names.indexOf(String.valueOf(layer));
    }

    @Test
    void twelveLayersFollowTheFormula() {
        CheckpointLayout l = new CheckpointLayout(12);
        assertEquals(146, l.fileCount());
        for (int layer = 0; layer < 12; layer++) {
            for (Slot s : Slot.values()) {
                int want = 2 + 12 * rank(layer, 12) + s.ordinal();
                assertEquals(want, l.fileIndex(layer, s), "layer " + layer + " " + s);
                assertEquals(layer, l.layerOf(want));
                assertEquals(s, l.slotOf(want));
                assertEquals("transformer/decoder_layer_" + layer + "/" + s.path(), l.tensorName(want));
            }
        }
        // order 0,1,10,11,2,...: layer 2 comes after 10 and 11, so it is not at 2 + 12*2 = 26
        assertEquals(50, l.fileIndex(2, Slot.GATE));
        assertEquals(26, l.fileIndex(10, Slot.GATE));
        assertEquals(134, l.fileIndex(9, Slot.GATE));
        assertEquals("tensor00050_000", CheckpointLayout.fileName(50));
    }

    @Test
    void sixtyFourLayersMatchTheSpecTable() {
        int[] first = {2, 14, 146, 278, 410, 542, 674, 734, 746, 758, 26, 38, 50, 62, 74, 86, 98, 110, 122, 134,
                158, 170, 182, 194, 206, 218, 230, 242, 254, 266, 290, 302, 314, 326, 338, 350, 362, 374, 386, 398,
                422, 434, 446, 458, 470, 482, 494, 506, 518, 530, 554, 566, 578, 590, 602, 614, 626, 638, 650, 662,
                686, 698, 710, 722};
        CheckpointLayout l = new CheckpointLayout(64);
        assertEquals(770, l.fileCount());
        for (int layer = 0; layer < 64; layer++) {
            assertEquals(first[layer], l.fileIndex(layer, Slot.GATE), "layer " + layer);
        }
        // spec §4.2: tensor00006_000 is block 0 slot 4, the attention output
        assertEquals(Slot.ATTN_OUTPUT, l.slotOf(6));
        assertEquals(0, l.layerOf(6));
    }

    @Test
    void globalsAndShapes() {
        CheckpointLayout l = new CheckpointLayout(64);
        GrokConfig c = GrokConfig.grok1();
        assertEquals(CheckpointLayout.EMBEDDING, l.tensorName(0));
        assertEquals(CheckpointLayout.FINAL_NORM, l.tensorName(1));
        assertEquals(-1, l.layerOf(1));
        assertNull(l.slotOf(0));
        assertFalse(l.quantized(0));
        assertTrue(l.quantized(l.fileIndex(5, Slot.QUERY)));
        assertFalse(l.quantized(l.fileIndex(5, Slot.ROUTER)));
        assertArrayEquals(new long[] {131072, 6144}, l.expectedShape(0, c));
        assertArrayEquals(new long[] {8, 6144, 32768}, Slot.GATE.shape(c));
        assertArrayEquals(new long[] {8, 32768, 6144}, Slot.DOWN.shape(c));
        assertArrayEquals(new long[] {6144, 1024}, Slot.KEY.shape(c));
        assertArrayEquals(new long[] {6144, 6144}, Slot.ATTN_OUTPUT.shape(c));
        assertArrayEquals(new long[] {6144, 8}, Slot.ROUTER.shape(c));
        assertArrayEquals(new long[] {6144}, Slot.POST_MOE_NORM.shape(c));
    }
}
