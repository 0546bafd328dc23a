package grok1j.format.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.Json;
import grok1j.format.ModelFormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The grok-2-tiny fixture opened in place, its expert checksums, and the folder-level errors (grok-2 spec §3, §8.4). */
class Grok2CheckpointTest {
    static final Path SHARED = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize();
    static final Path TINY = SHARED.resolve("fixtures/grok-2-tiny");

    @TempDir
    Path tmp;

    @Test
    void opensTheFixtureWithExpertsAsRankViews() throws IOException {
        assertTrue(Grok2Checkpoint.isGrok2Folder(TINY));
        assertFalse(Grok2Checkpoint.isGrok2Folder(SHARED.resolve("fixtures/grok-1-tiny")));
        try (Grok2Checkpoint c = Grok2Checkpoint.open(TINY)) {
            Grok2Config cfg = c.config();
            assertEquals(256, cfg.hiddenSize());
            assertEquals(256, cfg.expertFfn());
            assertEquals(512, cfg.denseFfn());
            assertTrue(cfg.residualMoe());
            assertEquals(2, cfg.attnTemperatureLen());
            assertEquals(50, cfg.finalLogitSoftcap());
            assertEquals(208533496, cfg.ropeTheta());
            assertEquals(8, c.rankCount());
            assertTrue(c.hasUntiedOutput());
            assertEquals(List.of(), c.warnings());
            assertNotNull(c.tokenizerPath());
            assertArrayEquals(new long[] {128, 256}, c.tensor("model.layers.1.self_attn.k_proj.weight").shape());
            SplitTensor w2 = c.expert(1, 7, "w2");
            assertEquals(1, w2.axis());
            assertEquals(8, w2.ranks().size());
            assertArrayEquals(new long[] {256, 256}, w2.shape());
            assertArrayEquals(new long[] {256, 32}, w2.ranks().get(3).shape());
            assertTrue(w2.ranks().get(3).file().getFileName().toString().endsWith("00007-TP-003.safetensors"));
            assertEquals(0, c.expert(0, 0, "w1").axis());
            // 15 common files (3 + 3 dense + 4 attention + 4 norms + router kinds) and 24 rank files
            assertEquals(3 + 2 * (3 + 4 + 4 + 1) + 2 * 8 * 3 * 8, c.tensors().size());
        }
    }

    /** §8.4 check 1: the checksums recomputed in double over the split views match within 1e-6 relative. */
    @Test
    void mergedExpertsMatchTheChecksums() throws IOException {
        Map<?, ?> expected = (Map<?, ?>) Json.parse(Files.readString(TINY.resolve("expected.json")));
        List<?> sums = (List<?>) expected.get("expert_checksums");
        try (Grok2Checkpoint c = Grok2Checkpoint.open(TINY)) {
            assertEquals(c.config().layers(), sums.size());
            for (int layer = 0; layer < sums.size(); layer++) {
                List<?> perExpert = (List<?>) sums.get(layer);
                assertEquals(c.config().experts(), perExpert.size());
                for (int e = 0; e < perExpert.size(); e++) {
                    List<?> want = (List<?>) perExpert.get(e);
                    double[] got = {
                        weighted(c.expert(layer, e, "w1"), true),
                        weighted(c.expert(layer, e, "w2"), false),
                        weighted(c.expert(layer, e, "w3"), true)};
                    for (int k = 0; k < 3; k++) {
                        double w = ((Number) want.get(k)).doubleValue();
                        assertEquals(w, got[k], 1e-6 * Math.abs(w), "layer " + layer + " expert " + e + " w" + (k == 0 ? 1 : k == 1 ? 2 : 3));
                    }
                }
            }
        }
    }

    /** Σ (i+1)·w[i,j] (byRow) or Σ (j+1)·w[i,j] over the logical [out, in] tensor. */
    private static double weighted(SplitTensor t, boolean byRow) {
        long[] shape = t.shape();
        double sum = 0;
        for (long i = 0; i < shape[0]; i++) {
            for (long j = 0; j < shape[1]; j++) {
                sum += (byRow ? i + 1 : j + 1) * (double) t.get(i, j);
            }
        }
        return sum;
    }

    /** The expert matrices over the rank views compute what the reassembled tensor gives, in double, element by element. */
    @Test
    void expertMatricesMultiplyLikeTheMergedTensors() throws IOException {
        try (Grok2Checkpoint c = Grok2Checkpoint.open(TINY)) {
            java.util.Random rnd = new java.util.Random(2);
            for (String w : new String[] {"w1", "w2", "w3"}) {
                SplitTensor t = c.expert(1, 5, w);
                grok1j.tensor.BF16Matrix m = c.expertMatrix(1, 5, w);
                long[] shape = t.shape();
                assertEquals(shape[0], m.outputDim());
                assertEquals(shape[1], m.inputDim());
                for (int tokens : new int[] {1, 3, 9}) {
                    float[] x = new float[tokens * m.inputDim()];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) rnd.nextGaussian();
                    }
                    float[] y = new float[tokens * m.outputDim()];
                    m.multiply(x, tokens, y, 0, m.outputDim());
                    for (int tok = 0; tok < tokens; tok++) {
                        for (int row = 0; row < shape[0]; row++) {
                            double want = 0;
                            double bound = 0;
                            for (int col = 0; col < shape[1]; col++) {
                                double p = (double) t.get(row, col) * x[tok * m.inputDim() + col];
                                want += p;
                                bound += Math.abs(p);
                            }
                            assertEquals(want, y[tok * m.outputDim() + row], 1e-5 * bound, w + " row " + row);
                        }
                    }
                }
            }
            grok1j.tensor.WeightMatrix q = c.matrix("model.layers.0.self_attn.q_proj.weight");
            assertEquals(256, q.inputDim());
            assertEquals(256, q.outputDim());
        }
    }

    @Test
    void swappedRanksChangeTheChecksum() throws IOException {
        // the checksum sees a wrong reassembly: swap w2's rank files 0 and 1
        Path copy = copyFixture();
        Path r0 = copy.resolve("pytorch_model-00007-TP-000.safetensors");
        Path r1 = copy.resolve("pytorch_model-00007-TP-001.safetensors");
        Path t = copy.resolve("swap");
        Files.move(r0, t);
        Files.move(r1, r0);
        Files.move(t, r1);
        Map<?, ?> expected = (Map<?, ?>) Json.parse(Files.readString(TINY.resolve("expected.json")));
        double want = ((Number) ((List<?>) ((List<?>) ((List<?>) expected.get("expert_checksums")).get(0)).get(0)).get(1)).doubleValue();
        try (Grok2Checkpoint c = Grok2Checkpoint.open(copy)) {
            double got = weighted(c.expert(0, 0, "w2"), false);
            assertTrue(Math.abs(got - want) > 1e-3 * Math.abs(want), got + " vs " + want);
        }
    }

    private Path copyFixture() throws IOException {
        Path copy = Files.createTempDirectory(tmp, "grok-2-tiny");
        try (Stream<Path> files = Files.list(TINY)) {
            for (Path p : files.filter(Files::isRegularFile).toList()) {
                Path to = copy.resolve(p.getFileName());
                Files.copy(p, to);
                to.toFile().setWritable(true);
            }
        }
        return copy;
    }

    private String error(Path folder, String... mustContain) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Grok2Checkpoint.open(folder).close());
        String m = e.getMessage();
        assertEquals(1, m.lines().count(), m);
        for (String s : mustContain) {
            assertTrue(m.contains(s), "'" + s + "' not in: " + m);
        }
        return m;
    }

    @Test
    void missingRankFileIsNamed() throws IOException {
        Path copy = copyFixture();
        Files.delete(copy.resolve("pytorch_model-00008-TP-005.safetensors"));
        error(copy, copy.resolve("pytorch_model-00008-TP-005.safetensors") + ": missing (rank 5 of 8");
    }

    @Test
    void missingLastRankEverywhereIsNamed() throws IOException {
        Path copy = copyFixture();
        for (String nn : new String[] {"00006", "00007", "00008"}) {
            Files.delete(copy.resolve("pytorch_model-" + nn + "-TP-007.safetensors"));
        }
        error(copy, "-TP-007.safetensors: missing (rank 7 of 8");
    }

    @Test
    void truncatedFile() throws IOException {
        Path copy = copyFixture();
        Path f = copy.resolve("pytorch_model-00011-TP-common.safetensors");
        byte[] b = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(b, b.length - 100));
        error(copy, f.toString(), "beyond the end of the file");
        Files.write(f, java.util.Arrays.copyOf(b, 6));
        error(copy, f + ": truncated: 6 bytes");
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path copy = copyFixture();
        Path f = copy.resolve("pytorch_model-00002-TP-common.safetensors");
        byte[] b = Files.readAllBytes(f);
        b[2] = 1; // N += 65536, beyond this small file
        Files.write(f, b);
        error(copy, f.toString(), "header length 65", "beyond the end of the file");
    }

    /** Rewrites the header of one file (same length), so offsets and dtypes can be damaged in place. */
    private Path patchHeader(String file, String from, String to) throws IOException {
        assertEquals(from.length(), to.length());
        Path copy = copyFixture();
        Path f = copy.resolve(file);
        byte[] b = Files.readAllBytes(f);
        String latin = new String(b, StandardCharsets.ISO_8859_1);
        int at = latin.indexOf(from);
        assertTrue(at > 0 && at < 8 + 4096, from);
        byte[] rep = to.getBytes(StandardCharsets.ISO_8859_1);
        System.arraycopy(rep, 0, b, at, rep.length);
        Files.write(f, b);
        return copy;
    }

    @Test
    void unknownDtype() throws IOException {
        Path copy = patchHeader("pytorch_model-00017-TP-common.safetensors", "\"BF16\"", "\"BX16\"");
        error(copy, "pytorch_model-00017-TP-common.safetensors: tensor model.layers.", "unknown dtype \"BX16\"");
    }

    @Test
    void overlappingAndOutOfFileOffsets() throws IOException {
        Path copy = patchHeader("pytorch_model-00006-TP-002.safetensors", "[16384,32768]", "[16000,32384]");
        error(copy, "pytorch_model-00006-TP-002.safetensors: tensor model.layers.0.block_sparse_moe.experts.1.w1.weight",
                "overlaps tensor model.layers.0.block_sparse_moe.experts.0.w1.weight");
        error(patchHeader("pytorch_model-00002-TP-common.safetensors", "[0,512]", "[9,521]"), "pytorch_model-00002-TP-common.safetensors: tensor model.norm.weight", "beyond the end of the file");
    }

    @Test
    void shapeThatDisagreesWithTheConfig() throws IOException {
        Path copy = copyFixture();
        Path config = copy.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 1"));
        error(copy, "tensor model.layers.0.self_attn.k_proj.weight: shape [128, 256], expected [64, 256] from config.json");
        Files.writeString(config, Files.readString(TINY.resolve("config.json")).replace("\"moe_intermediate_size\": 256",
                "\"moe_intermediate_size\": 512"));
        error(copy, "-TP-008.safetensors: missing (rank 8 of 16");
        Files.writeString(config, Files.readString(TINY.resolve("config.json")).replace("\"hidden_size\": 256", "\"hidden_size\": 128"));
        error(copy, "rank slice shape [32, 256], expected [s, 128]");
    }

    @Test
    void residualMoeWithoutTheDenseMlp() throws IOException {
        Path copy = copyFixture();
        Files.delete(copy.resolve("pytorch_model-00003-TP-common.safetensors"));
        error(copy, "tensor model.layers.0.mlp.gate_proj.weight: missing", "residual_moe: true");
    }

    @Test
    void configErrorsNameTheKey() throws IOException {
        Path copy = copyFixture();
        Path config = copy.resolve("config.json");
        String good = Files.readString(TINY.resolve("config.json"));
        Files.writeString(config, good.replace("\"hidden_size\": 256,", ""));
        error(copy, config + ": missing required key hidden_size");
        Files.writeString(config, good.replace("\"rope_type\": \"original\"", "\"rope_type\": \"yarn\""));
        error(copy, "rope_type yarn is not supported");
        Files.writeString(config, good.replace("\"sliding_window_size\": -1", "\"sliding_window_size\": 4096"));
        error(copy, "sliding_window_size 4096 is not supported");
        Files.writeString(config, good.replace("\"router_logit_softcapping\": 30.0", "\"router_logit_softcapping\": 20"));
        try (Grok2Checkpoint c = Grok2Checkpoint.open(copy)) {
            assertEquals(30, c.config().routerLogitSoftcap());
            assertTrue(c.warnings().get(0).contains("router_logit_softcapping 20.0 ignored"), c.warnings().toString());
        }
        Files.delete(config);
        error(copy, config + ": missing");
    }

    @Test
    void strayFilesAreWarnings() throws IOException {
        Path copy = copyFixture();
        Files.write(copy.resolve("extra.safetensors"), new byte[0]);
        try (Grok2Checkpoint c = Grok2Checkpoint.open(copy)) {
            assertEquals(1, c.warnings().size());
            assertTrue(c.warnings().get(0).contains("extra.safetensors: ignored"));
        }
    }
}
