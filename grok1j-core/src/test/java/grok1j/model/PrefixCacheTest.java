package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.tensor.ThreadPool;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The prefix cache on the tiny fixture: reuse is bit-identical to a cold run, LRU within the budget, spill files checked. */
class PrefixCacheTest {
    static Model model;
    static Transformer net;
    static long fingerprint;

    @BeforeAll
    static void load() throws Exception {
        model = Model.open(TestFiles.tinyModel(), null, new ThreadPool(2));
        net = model.network();
        fingerprint = ModelFingerprint.of(net.weights());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] tokens(long seed, int n) {
        return new Random(seed).ints(n, 3, 30000).toArray();
    }

    static int[] join(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /** Prefills {@code prompt} after what {@code cache} holds, as prompt rows; returns the last position's logits. */
    static float[] prefill(KvCache cache, int[] prompt) {
        int from = cache.length();
        return net.forward(List.of(new Transformer.Step(prompt, from, prompt.length - from, cache, Transformer.Logits.LAST, true)))
                .getFirst();
    }

    long budget(int blocks) {
        return blocks * PrefixCache.blockBytes(model.config().layers(), net.newCache().rowWidth());
    }

    @Test
    void aWarmPromptPrefillsOnlyItsNewTokensAndGivesTheColdLogits() throws IOException {
        PrefixCache pc = new PrefixCache(net, budget(100), null, fingerprint);
        int[] prefix = tokens(1, 500);
        int[] first = join(prefix, tokens(2, 20));
        int[] second = join(prefix, tokens(3, 30));

        KvCache a = net.newCache();
        try (PrefixCache.Lease l = pc.lookup(first, first.length - 1, a)) {
            assertEquals(0, l.tokens());
            prefill(a, first);
        }
        pc.insert(first, first.length, a);
        assertEquals(first.length / PrefixCache.BLOCK, pc.stats().blocks);

        KvCache cold = net.newCache();
        float[] coldLogits = prefill(cold, second);
        KvCache warm = net.newCache();
        PrefixCache.Lease lease = pc.lookup(second, second.length - 1, warm);
        assertEquals(496, lease.tokens(), "the whole blocks of the 500 shared tokens");
        assertEquals(496, warm.length());
        assertEquals(31, pc.stats().blocksInUse);
        float[] warmLogits = prefill(warm, second);
        lease.close();
        assertEquals(0, pc.stats().blocksInUse);
        assertArrayEquals(coldLogits, warmLogits, "logits after a cached prefix");
        for (int l = 0; l < model.config().layers(); l++) {
            int n = second.length * cold.rowWidth();
            assertArrayEquals(Arrays.copyOf(cold.keys(l), n), Arrays.copyOf(warm.keys(l), n));
            assertArrayEquals(Arrays.copyOf(cold.values(l), n), Arrays.copyOf(warm.values(l), n));
        }
        PrefixCache.Stats s = pc.stats();
        assertEquals(1, s.hits);
        assertEquals(1, s.misses);
        assertEquals(496, s.hitTokens);
        assertEquals(first.length + second.length, s.queriedTokens);
    }

    @Test
    void leastRecentlyUsedUnpinnedLeavesGoFirst() throws IOException {
        PrefixCache pc = new PrefixCache(net, budget(4), null, fingerprint);
        int[] x = tokens(10, 33), y = tokens(11, 33); // two blocks each (the 33rd token is never cached)
        KvCache cx = net.newCache(), cy = net.newCache();
        prefill(cx, x);
        prefill(cy, y);
        pc.insert(x, x.length, cx);
        pc.insert(y, y.length, cy);
        assertEquals(4, pc.stats().blocks);
        PrefixCache.Lease pinX = pc.lookup(x, x.length - 1, net.newCache()); // x now recently used and pinned
        int[] z = tokens(12, 17);
        KvCache cz = net.newCache();
        prefill(cz, z);
        pc.insert(z, z.length, cz);
        assertEquals(1, pc.stats().evictions, "y's leaf block made room");
        assertEquals(32, pc.lookup(x, x.length - 1, net.newCache()).tokens());
        assertEquals(16, pc.lookup(y, y.length - 1, net.newCache()).tokens(), "y keeps its first block");
        pinX.close();
        // everything pinned or with children: nothing fits, nothing breaks
        PrefixCache none = new PrefixCache(net, budget(0), null, fingerprint);
        none.insert(x, x.length, cx);
        assertEquals(0, none.stats().blocks);
    }

    @Test
    void spilledBlocksComeBackVerifiedAndDamagedOnesAreIgnored(@TempDir Path dir) throws IOException {
        int[] x = tokens(20, 40), y = tokens(21, 40);
        KvCache cx = net.newCache(), cy = net.newCache();
        prefill(cx, x);
        prefill(cy, y);
        PrefixCache pc = new PrefixCache(net, budget(2), dir, fingerprint);
        pc.insert(x, x.length, cx);
        pc.insert(y, y.length, cy); // evicts x's two blocks to the folder
        assertEquals(2, pc.stats().spillWrites);
        Path folder = dir.resolve(String.format("%016x", fingerprint));
        assertEquals(2, files(folder).size());

        KvCache back = net.newCache();
        assertEquals(32, pc.lookup(x, x.length - 1, back).tokens(), "read back from the folder");
        assertEquals(2, pc.stats().spillReads);
        for (int l = 0; l < model.config().layers(); l++) {
            int n = 32 * cx.rowWidth();
            assertArrayEquals(Arrays.copyOf(cx.keys(l), n), Arrays.copyOf(back.keys(l), n));
            assertArrayEquals(Arrays.copyOf(cx.values(l), n), Arrays.copyOf(back.values(l), n));
        }

        // y went to the folder in turn; flip one byte of each of its files
        List<Path> spilled = files(folder);
        assertEquals(4, spilled.size());
        for (Path f : spilled) {
            byte[] b = Files.readAllBytes(f);
            b[b.length / 2] ^= 0x40;
            Files.write(f, b);
        }
        PrefixCache fresh = new PrefixCache(net, budget(8), dir, fingerprint);
        assertEquals(0, fresh.lookup(y, y.length - 1, net.newCache()).tokens(), "a damaged file is not used");
        assertEquals(1, fresh.stats().spillRejected);
        assertEquals(3, files(folder).size(), "and is deleted");

        // another model (fingerprint) never reads this folder's blocks
        PrefixCache other = new PrefixCache(net, budget(8), dir, fingerprint + 1);
        assertEquals(0, other.lookup(x, x.length - 1, net.newCache()).tokens());
    }

    static List<Path> files(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(p -> p.toString().endsWith(".kv")).toList();
        }
    }
}
