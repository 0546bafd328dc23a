package grok1j.format.pickle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.ModelFormatException;
import grok1j.format.TensorInfo;
import grok1j.format.pickle.CheckpointLayout.Slot;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.Int8GroupedMatrix;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official-format reader on {@code fixtures/grok-1-tiny} (12 layers, d_model 32, 4 q / 2 kv heads x 8, 8 experts
 * x ffn 88, vocab 131072) and on damaged copies of it. Expected values are computed from the shard bytes at payload
 * offsets read off a pickle disassembly of the fixture, independently of the reader.
 */
class OfficialCheckpointTest {
    static Path fixture;
    static Path ckpt;

    @TempDir
    Path tmp;

    @BeforeAll
    static void locate() {
        fixture = Path.of(System.getProperty("grok1j.shared", "../../shared"), "fixtures", "grok-1-tiny").toAbsolutePath().normalize();
        ckpt = fixture.resolve("ckpt-0");
        assertTrue(Files.isDirectory(ckpt), "fixture missing: " + ckpt);
    }

    /** Removes our links first, so the temp-dir cleanup has no links to outside targets to warn about. */
    @AfterEach
    void unlink() throws IOException {
        try (var all = Files.walk(tmp)) {
            for (Path p : all.filter(Files::isSymbolicLink).toList()) {
                Files.delete(p);
            }
        }
    }

    // ---- helpers ----

    private static ByteBuffer shard(String name) throws IOException {
        return ByteBuffer.wrap(Files.readAllBytes(ckpt.resolve(name))).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static float bf16(ByteBuffer b, int offset) {
        return Float.intBitsToFloat((b.getShort(offset) & 0xFFFF) << 16);
    }

    /** {@code dest/ckpt-0} with symlinks to the fixture's shards, a copy of config.json, and a tokenizer link. */
    private Path linkFixture(Path dest) throws IOException {
        Path c = Files.createDirectories(dest.resolve("ckpt-0"));
        try (var files = Files.list(ckpt)) {
            for (Path p : files.toList()) {
                Files.createSymbolicLink(c.resolve(p.getFileName()), p);
            }
        }
        Files.copy(fixture.resolve("config.json"), dest.resolve("config.json"));
        Files.createSymbolicLink(dest.resolve("tokenizer.model"), fixture.resolve("tokenizer.model"));
        return dest;
    }

    /** Replaces a linked shard by {@code bytes}. */
    private static void replaceShard(Path dest, String name, byte[] bytes) throws IOException {
        Path p = dest.resolve("ckpt-0").resolve(name);
        Files.delete(p);
        Files.write(p, bytes);
    }

    /** Replaces a linked shard by a copy of its first {@code length} bytes. */
    private static void truncateShard(Path dest, String name, long length) throws IOException {
        Path p = dest.resolve("ckpt-0").resolve(name);
        Files.delete(p);
        Files.copy(ckpt.resolve(name), p);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(length);
        }
    }

    /** Opening must fail with a one-line message; returns it. */
    private static String openFails(Path path) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> OfficialCheckpoint.open(path).close());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    // ---- the fixture ----

    @Test
    void opensFixtureAndBuildsWeightsWithConfigShapes() throws IOException {
        long t0 = System.nanoTime();
        try (OfficialCheckpoint m = OfficialCheckpoint.open(fixture)) {
            long micros = (System.nanoTime() - t0) / 1000;
            System.out.println("opened grok-1-tiny (146 shards) in " + micros / 1000.0 + " ms");
            assertTrue(micros < 5_000_000, "opening took " + micros + " us");

            GrokWeights w = m.weights();
            assertEquals(12, w.config().layers());
            assertEquals(32, w.config().dModel());
            assertEquals(12, w.layers().size());
            assertEquals(32, w.finalNorm().length);
            WeightMatrix unemb = w.embedding().unembedding();
            assertEquals(32, unemb.inputDim());
            assertEquals(131072, unemb.outputDim());
            for (LayerWeights l : w.layers()) {
                assertDims(l.query(), 32, 32);
                assertDims(l.key(), 32, 16);
                assertDims(l.value(), 32, 16);
                assertDims(l.attnOutput(), 32, 32);
                assertDims(l.router(), 32, 8);
                assertEquals(8, l.gate().length);
                for (int e = 0; e < 8; e++) {
                    assertDims(l.gate()[e], 32, 88);
                    assertDims(l.up()[e], 32, 88);
                    assertDims(l.down()[e], 88, 32);
                }
                assertEquals(32, l.attnNorm().length);
                assertEquals(32, l.postMoeNorm().length);
            }
            assertEquals(fixture, m.location());
            assertEquals(fixture.resolve("tokenizer.model"), m.tokenizerPath());
            assertEquals(ckpt, m.checkpointDir());
        }
    }

    private static void assertDims(WeightMatrix m, int k, int n) {
        assertEquals(k, m.inputDim());
        assertEquals(n, m.outputDim());
    }

    @Test
    void openingCkpt0ItselfIsTheSame() throws IOException {
        try (OfficialCheckpoint m = OfficialCheckpoint.open(ckpt)) {
            assertEquals(fixture, m.location());
            assertEquals(12, m.config().layers());
            assertEquals(fixture.resolve("tokenizer.model"), m.tokenizerPath());
        }
    }

    @Test
    void tensorListAndMetadata() throws IOException {
        try (OfficialCheckpoint m = OfficialCheckpoint.open(fixture)) {
            List<TensorInfo> t = m.tensors();
            assertEquals(146, t.size());
            TensorInfo emb = t.get(0);
            assertEquals("language_model/in_out_embed/embeddings", emb.name());
            assertArrayEquals(new long[] {131072, 32}, emb.shape());
            assertEquals("f32", emb.type());
            assertEquals(131072L * 32 * 4, emb.bytes());
            // spec §4.4 puts the real embedding payload at 151; the fixture's row count 32 is a 2-byte BININT1
            // where the release's 6144 is a 3-byte BININT2, hence 150
            assertEquals(150, emb.offset());
            assertEquals(ckpt.resolve("tensor00000_000"), emb.file());

            TensorInfo down = t.get(3);
            assertEquals("transformer/decoder_layer_0/moe/linear_1/w", down.name());
            assertArrayEquals(new long[] {8, 88, 32}, down.shape());
            assertEquals("int8+bf16 scales [8,8,32]", down.type());
            assertEquals(8 * 88 * 32 + 8 * 8 * 32 * 2, down.bytes());
            assertEquals(199, down.offset());
            assertEquals("int8+bf16 scales [8,1,88]", t.get(2).type());
            assertEquals("int8+bf16 scales [8,32]", t.get(6).type());
            assertEquals("transformer/decoder_layer_2/moe/linear/w", t.get(50).name());
            assertEquals("transformer/decoder_layer_9/router/w", t.get(145).name());

            Map<String, String> meta = m.metadata();
            assertEquals("official ckpt-0 (pickle)", meta.get("format"));
            assertTrue(meta.get("shards").startsWith("146 "));
            assertTrue(meta.get("layers").startsWith("12 "));
            assertEquals("4", meta.get("pickle protocol"));
        }
    }

    /** Layer 0, key (file 5): int8 [32,16] at 197, bf16 scales [1,16] at 800; W[k][n] = q[k][n] * s[0][n]. */
    @Test
    void dequantizedKeyMatchesBytes() throws IOException {
        ByteBuffer b = shard("tensor00005_000");
        try (OfficialCheckpoint m = OfficialCheckpoint.open(fixture)) {
            Int8GroupedMatrix key = (Int8GroupedMatrix) m.weights().layers().get(0).key();
            for (int[] kn : new int[][] {{0, 0}, {5, 11}, {31, 15}}) {
                int k = kn[0], n = kn[1];
                float want = b.get(197 + k * 16 + n) * bf16(b, 800 + 2 * n);
                assertEquals(want, key.get(k, n), 0f);
            }
            assertEquals(197, m.shards().get(5).array().offset());
            assertEquals(800, m.shards().get(5).scales().offset());
        }
    }

    /** Layer 0, attention output (file 6): int8 [32,32] at 197, scales [8,32] at 1315, G = 8 groups of 4 rows. */
    @Test
    void dequantizedGroupedAttentionOutputMatchesBytes() throws IOException {
        ByteBuffer b = shard("tensor00006_000");
        try (OfficialCheckpoint m = OfficialCheckpoint.open(fixture)) {
            Int8GroupedMatrix o = (Int8GroupedMatrix) m.weights().layers().get(0).attnOutput();
            for (int[] kn : new int[][] {{0, 3}, {13, 31}, {31, 0}}) {
                int k = kn[0], n = kn[1];
                float want = b.get(197 + k * 32 + n) * bf16(b, 1315 + 2 * ((k / 4) * 32 + n));
                assertEquals(want, o.get(k, n), 0f);
            }
        }
    }

    /** Layer 0, down (file 3): int8 [8,88,32] at 199, scales [8,8,32] at 22823, groups of 11 rows; expert 3. */
    @Test
    void dequantizedExpertDownMatchesBytes() throws IOException {
        ByteBuffer b = shard("tensor00003_000");
        try (OfficialCheckpoint m = OfficialCheckpoint.open(fixture)) {
            for (int e : new int[] {0, 3, 7}) {
                Int8GroupedMatrix d = (Int8GroupedMatrix) m.weights().layers().get(0).down()[e];
                for (int[] kn : new int[][] {{0, 0}, {50, 7}, {87, 31}}) {
                    int k = kn[0], n = kn[1];
                    float want = b.get(199 + e * 88 * 32 + k * 32 + n) * bf16(b, 22823 + 2 * ((e * 8 + k / 11) * 32 + n));
                    assertEquals(want, d.get(k, n), 0f, "expert " + e);
                }
            }
        }
    }

    @Test
    void embeddingRouterAndNormsMatchBytes() throws IOException {
        ByteBuffer emb = shard("tensor00000_000");
        ByteBuffer router = shard("tensor00013_000");
        // layer 2 is the fifth layer in file order (0,1,10,11,2): its rms_norm is file 2 + 12*4 + 7 = 57
        ByteBuffer norm2 = shard("tensor00057_000");
        try (OfficialCheckpoint m = OfficialCheckpoint.open(fixture)) {
            GrokWeights w = m.weights();
            float[] row = new float[32];
            w.embedding().lookup(100_000, row, 0);
            F32Matrix unemb = (F32Matrix) w.embedding().unembedding();
            for (int j = 0; j < 32; j++) {
                float want = emb.getFloat(150 + 4 * (100_000 * 32 + j));
                assertEquals(want, row[j], 0f);
                assertEquals(want, unemb.get(j, 100_000), 0f);
            }
            F32Matrix r = (F32Matrix) w.layers().get(0).router();
            assertEquals(router.getFloat(147 + 4 * (17 * 8 + 5)), r.get(17, 5), 0f);
            float[] attnNorm2 = w.layers().get(2).attnNorm();
            for (int j = 0; j < 32; j++) {
                assertEquals(norm2.getFloat(142 + 4 * j), attnNorm2[j], 0f);
            }
        }
    }

    @Test
    void closeUnmapsAndIsIdempotent() throws IOException {
        OfficialCheckpoint m = OfficialCheckpoint.open(fixture);
        WeightMatrix q = m.weights().layers().get(0).query();
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> ((Int8GroupedMatrix) q).get(0, 0));
    }

    // ---- tokenizer resolution ----

    @Test
    void tokenizerTwoLevelsAboveCkpt0AndExplicitWins() throws IOException {
        Path repo = tmp.resolve("repo");
        linkFixture(repo.resolve("checkpoints"));
        Files.delete(repo.resolve("checkpoints/tokenizer.model"));
        Files.createSymbolicLink(repo.resolve("tokenizer.model"), fixture.resolve("tokenizer.model"));
        try (OfficialCheckpoint m = OfficialCheckpoint.open(repo.resolve("checkpoints"))) {
            assertEquals(repo.resolve("tokenizer.model"), m.tokenizerPath());
            assertEquals(repo.resolve("tokenizer.model"), OfficialCheckpoint.resolveTokenizer(null, m));
            Path explicit = fixture.resolve("tokenizer.model");
            assertEquals(explicit, OfficialCheckpoint.resolveTokenizer(explicit, m));
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> OfficialCheckpoint.resolveTokenizer(tmp.resolve("nope.model"), m));
            assertTrue(e.getMessage().startsWith("no such tokenizer file: "), e.getMessage());
        }
    }

    @Test
    void noTokenizerFound() throws IOException {
        Path dir = linkFixture(tmp.resolve("a/b/model"));
        Files.delete(dir.resolve("tokenizer.model"));
        try (OfficialCheckpoint m = OfficialCheckpoint.open(dir)) {
            assertNull(m.tokenizerPath());
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> OfficialCheckpoint.resolveTokenizer(null, m));
            assertTrue(e.getMessage().startsWith("no tokenizer.model found for " + dir), e.getMessage());
            assertTrue(e.getMessage().endsWith("pass --tokenizer PATH"), e.getMessage());
        }
    }

    // ---- bad inputs: each a one-line message naming the file and the problem ----

    @Test
    void wrongPaths() throws IOException {
        assertEquals("no such file or directory: " + tmp.resolve("nope"), openFails(tmp.resolve("nope")));
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertEquals("not a Grok-1 checkpoint: " + empty + " (no ckpt-0/ with tensorNNNNN_000 files)", openFails(empty));
        assertTrue(openFails(fixture.resolve("config.json")).startsWith("not a Grok-1 checkpoint: "));
    }

    @Test
    void missingShard() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        Files.delete(dir.resolve("ckpt-0/tensor00077_000"));
        String msg = openFails(dir);
        assertTrue(msg.startsWith("missing shard tensor00077_000 in " + dir.resolve("ckpt-0")
                + ": a 12-layer model has 146 files tensor00000_000..tensor00145_000"), msg);
        assertTrue(msg.endsWith("found 145"), msg);
    }

    @Test
    void unexpectedShard() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        Files.createSymbolicLink(dir.resolve("ckpt-0/tensor00146_000"), ckpt.resolve("tensor00001_000"));
        assertTrue(openFails(dir).startsWith("unexpected shard tensor00146_000 in "));
    }

    @Test
    void withoutConfigTheReleaseShapeIsExpected() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        Files.delete(dir.resolve("config.json"));
        String msg = openFails(dir);
        assertTrue(msg.startsWith("missing shard tensor00146_000 in "), msg);
        assertTrue(msg.contains("a 64-layer model has 770 files") && msg.contains("no config.json"), msg);
    }

    @Test
    void truncatedShard() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        truncateShard(dir, "tensor00015_000", 10_000);
        String msg = openFails(dir);
        // the whole header sits in one FRAME, so the announced frame length is the first thing that cannot be met
        assertEquals("tensor00015_000: truncated at offset 11: expected 26915 bytes of FRAME, only 9989 left"
                + " (file has 10000 bytes)", msg);
    }

    @Test
    void truncatedPayloadOutsideFrames() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        truncateShard(dir, "tensor00000_000", 1_000_000);
        assertEquals("tensor00000_000: truncated at offset 150: expected 16777216 bytes of BINBYTES payload,"
                + " only 999850 left (file has 1000000 bytes)", openFails(dir));
    }

    @Test
    void shardNamingAnotherGlobal() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        // PROTO 4; GLOBAL 'os' 'system' (text form); 'echo' TUPLE1 REDUCE STOP
        replaceShard(dir, "tensor00009_000", new PickleBytes().proto().global("os", "system")
                .str("echo pwned").op(0x85, 'R').stop().bytes());
        assertEquals("tensor00009_000: offset 2: refusing global os.system", openFails(dir));

        // PROTO 4 (0-1); FRAME 23 (2-10); SHORT_BINUNICODE 'os' MEMOIZE (11-15); 'system' MEMOIZE (16-24);
        // STACK_GLOBAL (25); 'id' MEMOIZE; TUPLE1; REDUCE; STOP
        replaceShard(dir, "tensor00009_000", new PickleBytes().proto().frame(23).str("os").str("system")
                .op(0x93).str("id").op(0x85, 'R').stop().bytes());
        assertEquals("tensor00009_000: offset 25: refusing global os.system", openFails(dir));
    }

    @Test
    void unknownOpcodeFortranOrderAndAbsurdLengthInAShard() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        replaceShard(dir, "tensor00010_000", new PickleBytes().proto().op(0xb0).bytes());
        assertEquals("tensor00010_000: offset 2: opcode 0xb0 (not a pickle opcode) is not allowed in a checkpoint shard",
                openFails(dir));

        replaceShard(dir, "tensor00010_000",
                PickleBytes.shardOf(p -> p.ndarray("f4", "<", true, new byte[128], 32)));
        String fortran = openFails(dir);
        assertTrue(fortran.matches("tensor00010_000: offset \\d+: Fortran-order array \\(fortran_order=True\\) is not supported"), fortran);

        replaceShard(dir, "tensor00010_000", new PickleBytes().proto().op(0x8e).le(0x7FFF_FFFF_FFFF_FFF0L, 8).stop().bytes());
        assertEquals("tensor00010_000: truncated at offset 11: expected 9223372036854775792 bytes of BINBYTES8 payload,"
                + " only 1 left (file has 12 bytes)", openFails(dir));
    }

    @Test
    void shapeThatDoesNotMatchConfig() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        Path config = dir.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"hidden_size\": 32", "\"hidden_size\": 48"));
        assertEquals("tensor00000_000 (language_model/in_out_embed/embeddings): expected f32 [131072,48],"
                + " found f32 [131072,32]", openFails(dir));
    }

    @Test
    void wrongShapesInsideALayerAreNamedByLayer() throws IOException {
        Path dir = linkFixture(tmp.resolve("m"));
        int router2 = new CheckpointLayout(12).fileIndex(2, Slot.ROUTER);
        assertEquals(61, router2);
        replaceShard(dir, "tensor00061_000", PickleBytes.f32Shard(new float[32 * 4], 32, 4));
        assertEquals("tensor00061_000 (transformer/decoder_layer_2/router/w): expected f32 [32,8], found f32 [32,4]",
                openFails(dir));

        // a bare array where a QuantizedWeight8bit belongs
        Files.delete(dir.resolve("ckpt-0/tensor00061_000"));
        Files.createSymbolicLink(dir.resolve("ckpt-0/tensor00061_000"), ckpt.resolve("tensor00061_000"));
        replaceShard(dir, "tensor00005_000", PickleBytes.f32Shard(new float[32 * 16], 32, 16));
        assertEquals("tensor00005_000 (transformer/decoder_layer_0/multi_head_attention/key/w): expected int8 [32,16]"
                + " + bf16 scales, found f32 [32,16]", openFails(dir));

        // scale groups that do not divide the input dim
        replaceShard(dir, "tensor00005_000", PickleBytes.shardOf(p -> p.quantized(new byte[32 * 16], new long[] {32, 16},
                new byte[3 * 16 * 2], new long[] {3, 16})));
        assertEquals("tensor00005_000 (transformer/decoder_layer_0/multi_head_attention/key/w): expected bf16 scales"
                + " [G,16] with G dividing 32, found [3,16]", openFails(dir));
    }
}
