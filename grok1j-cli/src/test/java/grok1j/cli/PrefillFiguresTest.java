package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Per-layer prefill figures come from the full layers only, and do not exist with one layer. */
class PrefillFiguresTest {
    @Test
    void oneLayerHasOnlyTheWholeForwardFigures() {
        PrefillFigures f = PrefillFigures.of(new long[] {300_000_000L}, 100, 400, 2e9, 120);
        assertFalse(f.perLayer());
        assertEquals(250, f.tokensPerS(), 1e-9);
        assertEquals(300, f.lastLayerMs(), 1e-9);
        assertTrue(Double.isNaN(f.msPerTokenLayer()));
        assertTrue(Double.isNaN(f.gflops()));
        assertTrue(Double.isNaN(f.fmaFraction()));
        assertTrue(Double.isNaN(f.projected64()));
    }

    @Test
    void theLastLayerIsLeftOutOfThePerLayerFigures() {
        // layers of 200 and 400 ms are full, the last (50 ms) ran its MoE for one position; 100 tokens in 700 ms
        PrefillFigures f = PrefillFigures.of(new long[] {200_000_000L, 400_000_000L, 50_000_000L}, 100, 700, 2e9, 120);
        assertTrue(f.perLayer());
        assertEquals(3.0, f.msPerTokenLayer(), 1e-12); // (200 + 400) / 2 / 100
        assertEquals(2e9 / 3e6, f.gflops(), 1e-9);     // 2 GFLOP per token and layer in 3 ms
        assertEquals(2e9 / 3e6 / 120, f.fmaFraction(), 1e-12);
        // 64 full layers (19,200 ms for 100 tokens) plus the 100 ms spent outside the full layers
        assertEquals(100 / 19.3, f.projected64(), 1e-9);
        assertEquals(50, f.lastLayerMs(), 1e-9);
    }

    @Test
    void noPeakNoFraction() {
        PrefillFigures f = PrefillFigures.of(new long[] {1_000_000L, 1_000_000L}, 4, 3, 1e6, Double.NaN);
        assertTrue(f.perLayer());
        assertTrue(Double.isNaN(f.fmaFraction()));
    }
}
