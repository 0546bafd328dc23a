package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@code grok1j doctor} on the tiny fixture (numbers summed here from the matrices' stored bytes) and on a GGUF with
 * the real Grok-1 tensor shapes whose data section is a sparse file (never written, never read).
 */
class DoctorCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path TINY = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize()
            .resolve("fixtures/grok-1-tiny");

    static JsonNode doctorJson(Path model, String... more) throws IOException {
        String[] args = new String[3 + more.length];
        args[0] = "doctor";
        args[1] = "--model=" + model;
        args[2] = "--json";
        System.arraycopy(more, 0, args, 3, more.length);
        CliTest.Run r = CliTest.run(args);
        assertEquals(0, r.status(), r.err());
        return JSON.readTree(r.out());
    }

    /** Sums of stored bytes over one rank's matrices, computed here independently of MemoryPlan. */
    record Sums(long attention, long router, long experts, long active, long unembedding, long norms) {
        static Sums of(GrokWeights w) {
            long a = 0, r = 0, e = 0, act = 0, n = 4L * w.finalNorm().length;
            for (LayerWeights l : w.layers()) {
                a += l.query().storedBytes() + l.key().storedBytes() + l.value().storedBytes() + l.attnOutput().storedBytes();
                r += l.router().storedBytes();
                for (int x = 0; x < l.gate().length; x++) {
                    e += l.gate()[x].storedBytes() + l.up()[x].storedBytes() + l.down()[x].storedBytes();
                }
                act += 2 * (l.gate()[0].storedBytes() + l.up()[0].storedBytes() + l.down()[0].storedBytes());
                n += 4L * (l.attnNorm().length + l.postAttnNorm().length + l.preMoeNorm().length + l.postMoeNorm().length);
            }
            return new Sums(a, r, e, act, w.embedding().unembedding().storedBytes(), n);
        }
    }

    @Test
    void tinyFixtureRunsFromRam() throws IOException {
        Sums s;
        try (ModelFile f = ModelFiles.open(TINY)) {
            s = Sums.of(f.weights());
        }
        JsonNode j = doctorJson(TINY);
        JsonNode w = j.get("weight_bytes");
        assertEquals(s.attention(), w.get("attention").asLong());
        assertEquals(s.router(), w.get("router").asLong());
        assertEquals(s.experts(), w.get("experts").asLong());
        assertEquals(s.active(), w.get("active_experts").asLong());
        assertEquals(s.unembedding(), w.get("unembedding").asLong());
        assertEquals(s.norms(), w.get("norms").asLong());
        assertEquals(0, w.get("embedding").asLong(), "tied: the table is the unembedding");
        long all = s.attention() + s.router() + s.experts() + s.unembedding() + s.norms();
        assertEquals(all, w.get("resident").asLong());
        assertEquals(all - s.experts() + s.active(), w.get("per_token").asLong());
        // float32 KV: 12 layers x 2 x 2 KV heads x 8 x 4 bytes per position, 8192 positions (the model's context)
        assertEquals(12 * 2 * 2 * 8 * 4, j.get("kv_bytes_per_position").asLong());
        assertEquals(12L * 2 * 2 * 8 * 4 * 8192, j.get("kv_cache_bytes").asLong());
        assertTrue(j.get("prefix_cache_bytes").asLong() >= 0);
        assertEquals("runs_from_ram", j.get("verdict").asText());
        assertEquals(0, j.get("advice").size());
        assertTrue(j.get("machine").get("mem_total").asLong() > 0);

        CliTest.Run r = CliTest.run("doctor", "--model", TINY.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("\nverdict: runs from RAM: "), r.out());
        assertTrue(r.out().contains("prefix cache: "), r.out());
        CliTest.Run off = CliTest.run("doctor", "--model", TINY.toString(), "--cache-ram", "0", "--json");
        assertEquals(0, off.status(), off.err());
        assertEquals(0, new ObjectMapper().readTree(off.out()).get("prefix_cache_bytes").asLong());
        CliTest.Run some = CliTest.run("doctor", "--model", TINY.toString(), "--cache-ram", "64M");
        assertTrue(some.out().contains("prefix cache: 67.1 MB (--cache-ram)"), some.out());
    }

    @Test
    void tinyFixtureAcrossRanksAndTooLittleRam() throws IOException {
        Sums half;
        try (ModelFile f = ModelFiles.open(TINY)) {
            half = Sums.of(grok1j.model.Partition.of(f.weights().config(), 0, 2).slice(f.weights()));
        }
        JsonNode j = doctorJson(TINY, "--ranks", "2", "--parallel", "4", "--context", "100");
        assertEquals(half.attention(), j.get("weight_bytes").get("attention").asLong());
        assertEquals(half.experts(), j.get("weight_bytes").get("experts").asLong());
        assertEquals(half.unembedding(), j.get("weight_bytes").get("unembedding").asLong());
        assertEquals(12L * 2 * 1 * 8 * 4 * 100 * 4, j.get("kv_cache_bytes").asLong());

        // 10 MB: one step reads the whole 16.8 MB unembedding, so one process cannot; each of 2 ranks reads half
        JsonNode small = doctorJson(TINY, "--ram", "10M", "--context", "128");
        assertEquals("does_not_fit", small.get("verdict").asText());
        String advice = small.get("advice").toString();
        assertTrue(advice.contains("run across 2 hosts with mpirun"), advice);
        // d_model 32 has no whole Q4_K block, so "q4_k" writes F16 matrices; the f32 table halving still shrinks it
        assertTrue(advice.contains("convert to q4_k: grok1j convert --type q4_k (a 10.1 MB file)"), advice);
        assertFalse(small.toString().contains("NaN"));
    }

    @Test
    void generateSaysNothingWhenTheModelRunsFromRam() {
        CliTest.Run r = CliTest.run("generate", "--model", TINY.toString(), "--prompt", "The answer", "--max-tokens", "2",
                "--temperature", "0");
        assertEquals(0, r.status(), r.err());
        assertEquals(1, r.err().lines().filter(l -> !l.startsWith("WARNING")).count(), r.err());
        assertTrue(r.err().contains("prompt tokens:"), r.err());
    }

    @Test
    void badInput() {
        CliTest.assertBadInput(CliTest.run("doctor", "--model", TINY.toString(), "--ranks", "3"), "--ranks 3", "2 KV heads");
        CliTest.assertBadInput(CliTest.run("doctor", "--model", TINY.toString(), "--context", "9000"), "--context");
        CliTest.assertBadInput(CliTest.run("doctor", "--model", TINY.toString(), "--parallel", "0"), "--parallel");
    }

    // ---- a Grok-1-sized GGUF, header only ----

    static final int D = 6144, F = 32768, V = 131072, L = 64, F32 = 0, Q8_0 = 8, Q4_K = 12, Q6_K = 14;

    /** Q8_0 bytes of {@code elements} weights: 34-byte blocks of 32. */
    static long q8(long elements) {
        return elements / 32 * 34;
    }

    /**
     * Q6_K experts are copied at open into one byte per weight (34.5 bytes per 32 weights, against 26.25 in the file),
     * when the copy fits; {@code -Dgrok1j.gguf.interleave=false} keeps the file's Q6_K rows.
     */
    @Test
    void q6_KExpertsAreUnpackedWhenTheCopyFits() throws IOException {
        Path dir = Files.createTempDirectory("grok1j-doctor");
        Path file = dir.resolve("grok-1-q6_k.gguf");
        try {
            writeSparseGrok1(file, Q6_K, Q6_K, Q6_K);
            // and the Q6_K table, which the unembedding reads as its unpacked copy (the lookups read the file's rows)
            long copy = grok1j.tensor.InterleavedQ6_KMatrix.supported()
                    ? L * 8 * 3 * ((long) D * F / 32 * 69 / 2) + (long) V * D / 32 * 69 / 2 : 0;
            JsonNode big = doctorJson(file, "--ram", "600G");
            assertEquals(copy, big.get("repack_bytes").asLong());
            assertEquals(copy > 0 ? true : null, copy > 0 ? big.get("repack_fits").asBoolean() : null);
            if (copy > 0) {
                // a decode step reads its two experts of eight from the copy (a quarter of the experts' copy's extra
                // bytes more) and the unembedding's copy instead of its rows
                long table = (long) V * D / 32 * 69 / 2, tableRows = (long) V * D / 256 * 210;
                long source = L * 8 * 3 * ((long) D * F / 256 * 210);
                long perToken = big.get("weight_bytes").get("per_token").asLong();
                assertEquals(perToken + (copy - table - source) / 4 + table - tableRows, big.get("decode_step_bytes").asLong());
                CliTest.Run text = CliTest.run("doctor", "--model", file.toString(), "--ram", "600G");
                assertTrue(text.out().contains("(its experts and unembedding from the copy below; "), text.out());
                assertTrue(text.out().contains("experts and unembedding: 334.3 GB copied at open (in the process's own memory) into "
                        + "one byte per weight with the rows interleaved (Q6_K: 34.5 bytes per 32 weights instead of 26.25), faster "
                        + "to decode and prefill, when it fits; here it fits"), text.out());
                System.setProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY, "false");
                try {
                    CliTest.Run off = CliTest.run("doctor", "--model", file.toString(), "--ram", "600G");
                    assertTrue(off.out().contains("experts and unembedding: kept in the file's Q6_K rows (-Dgrok1j.gguf.interleave=false)"),
                            off.out());
                    assertEquals(perToken, doctorJson(file, "--ram", "600G").get("decode_step_bytes").asLong());
                } finally {
                    System.clearProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY);
                }
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /** Q4_K experts are copied at open into the interleaved Q4_K layout (19 bytes per 32 weights, against 18 in the file). */
    @Test
    void q4_KExpertsAreInterleavedWhenTheCopyFits() throws IOException {
        Path dir = Files.createTempDirectory("grok1j-doctor");
        Path file = dir.resolve("grok-1-q4_k.gguf");
        try {
            writeSparseGrok1(file, Q4_K);
            long copy = grok1j.tensor.InterleavedQ4_KMatrix.supported() ? L * 8 * 3 * ((long) D * F / 32 * 19) : 0;
            JsonNode j = doctorJson(file, "--ram", "256G");
            assertEquals(copy, j.get("repack_bytes").asLong());
            if (copy > 0) {
                assertTrue(j.get("repack_fits").asBoolean(), "183.6 GB of copy and 5.8 GB of the rest in 90 % of 256 GiB");
                CliTest.Run text = CliTest.run("doctor", "--model", file.toString(), "--ram", "256G");
                assertTrue(text.out().contains("experts: 183.6 GB copied at open (in the process's own memory) into the "
                        + "interleaved Q4_K layout (19 bytes per 32 weights instead of 18), faster"), text.out());
                assertFalse(doctorJson(file, "--ram", "192G").get("repack_fits").asBoolean(), "a 192 GiB machine keeps the file's rows");
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /** A file with Q4_K gate and up and Q6_K down (as llama.cpp's Q4_K_M): doctor names both copies and adds them up. */
    @Test
    void mixedExpertTypesAreNamedEach() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(grok1j.tensor.InterleavedQ6_KMatrix.supported());
        Path dir = Files.createTempDirectory("grok1j-doctor");
        Path file = dir.resolve("grok-1-q4_k_m.gguf");
        try {
            writeSparseGrok1(file, Q4_K, Q6_K, Q6_K);
            long copy = L * 8 * ((long) D * F / 32) * (2 * 19 + 69 / 2) + L * 8 * ((long) D * F / 32) / 2
                    + (long) V * D / 32 * 69 / 2; // and the Q6_K table's copy
            JsonNode j = doctorJson(file, "--ram", "600G");
            assertEquals(copy, j.get("repack_bytes").asLong(), "19 bytes per 32 weights for gate and up, 34.5 for down");
            CliTest.Run text = CliTest.run("doctor", "--model", file.toString(), "--ram", "600G");
            assertTrue(text.out().contains("copied at open (in the process's own memory) into the interleaved Q4_K layout "
                    + "(19 bytes per 32 weights instead of 18) and one byte per weight with the rows interleaved (Q6_K: 34.5 "
                    + "bytes per 32 weights instead of 26.25), faster"), text.out());
            System.setProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY, "false");
            try {
                CliTest.Run off = CliTest.run("doctor", "--model", file.toString(), "--ram", "600G");
                assertTrue(off.out().contains("experts and unembedding: kept in the file's Q4_K and Q6_K rows"), off.out());
            } finally {
                System.clearProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY);
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void grok1SizedGgufDoesNotFit24GiB() throws IOException {
        Path dir = Files.createTempDirectory("grok1j-doctor");
        Path file = dir.resolve("grok-1-q8_0.gguf");
        try {
            writeSparseGrok1(file);
            JsonNode j = doctorJson(file, "--ram", "24G", "--context", "8192");
            JsonNode w = j.get("weight_bytes");
            // spec kernels.md §5, the 1-layer file: attention 93.6 MB + router 0.2 MB + 2 experts 1283.5 MB per layer,
            // LM head 855.6 MB
            assertEquals(L * (2 * q8((long) D * D) + 2 * q8((long) D * 1024)), w.get("attention").asLong());
            assertEquals(93_585_408L * L, w.get("attention").asLong());
            assertEquals(196_608L * L, w.get("router").asLong());
            assertEquals(1_283_457_024L * L, w.get("active_experts").asLong());
            assertEquals(855_638_016L, w.get("unembedding").asLong());
            assertEquals(L * 8 * 3 * q8((long) D * F), w.get("experts").asLong());
            // the interleaved copy of the Q8_0 experts made at open (36 bytes per 32 weights); the Q8_0 table stays in
            // the file's rows
            long copy = grok1j.tensor.InterleavedQ8_0Matrix.supported() ? L * 8 * 3 * ((long) D * F) / 32 * 36 : 0;
            assertEquals(copy, j.get("repack_bytes").asLong());
            assertFalse(j.get("repack_fits").asBoolean(), "copy and file in 24 GiB");
            assertEquals(4L * D * (4 * L + 1), w.get("norms").asLong());
            assertEquals(512 * 1024 * 8192L, j.get("kv_cache_bytes").asLong());
            assertEquals("does_not_fit", j.get("verdict").asText());
            String advice = j.get("advice").toString();
            assertTrue(advice.contains("convert to q4_k: grok1j convert --type q4_k (a 177."), advice);
            assertTrue(advice.contains("then run across 8 hosts with mpirun"), advice);

            // generate, serve and bench --model print this one line at start
            try (ModelFile f = ModelFiles.open(file)) {
                String line = DoctorCommand.warning(f, 1, 1, 24L << 30);
                // spec kernels.md §5: Q8_0 reads 89.0 GB per token
                assertTrue(line.startsWith("grok1j: warning: this model does not fit: one decode step reads 89.0 GB"), line);
                assertTrue(line.contains("; to fit: convert to q4_k"), line);
                assertFalse(line.contains("\n"));
                assertEquals(null, DoctorCommand.warning(f, 2, 1, 400L << 30));
            }
            JsonNode big = doctorJson(file, "--ram", "400G");
            assertEquals("runs_from_ram", big.get("verdict").asText());
            // 347.9 GB of copy and 6.9 GB of the rest of the file against 90 % of 400 GiB
            assertEquals(copy > 0, big.get("repack_fits").asBoolean());
            JsonNode two = doctorJson(file, "--ram", "200G", "--ranks", "2");
            assertEquals("runs_from_ram", two.get("verdict").asText());
            assertEquals(512 * 1024 / 2 * 8192L, two.get("kv_cache_bytes").asLong());
            assertEquals(copy / 2, two.get("repack_bytes").asLong(), "a rank copies its slices only");
            assertEquals(copy > 0, two.get("repack_fits").asBoolean());
            JsonNode mid = doctorJson(file, "--ram", "256G");
            assertFalse(mid.get("repack_fits").asBoolean());
            if (copy > 0) {
                CliTest.Run text = CliTest.run("doctor", "--model", file.toString(), "--ram", "256G");
                assertTrue(text.out().contains("here it does not fit: the copy and the rest of the file (354.8 GB) against "
                        + "90 % of the 274.9 GB available, so open keeps the file's rows"), text.out());
                assertFalse(mid.get("repack_copies").asBoolean());
                System.setProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY, "false");
                try {
                    CliTest.Run off = CliTest.run("doctor", "--model", file.toString(), "--ram", "400G");
                    assertTrue(off.out().contains("experts: kept in the file's Q8_0 rows (-Dgrok1j.gguf.interleave=false)"),
                            off.out());
                    assertFalse(off.out().contains("copied at open"), off.out());
                } finally {
                    System.clearProperty(grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY);
                }
            }
            CliTest.assertBadInput(CliTest.run("doctor", "--model", file.toString(), "--ram", "abc"), "--ram abc is not a size");
            assertEquals("page_cache", mid.get("verdict").asText());
            assertTrue(mid.get("seconds_per_token_from_disk").asDouble() > 0);
            assertTrue(mid.get("summary").asText().contains("at an assumed 2.0 GB/s (not measured)"));
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /** GGUF v3 metadata and tensor infos of Grok-1 in Q8_0, then the data section as a hole (setLength). */
    static void writeSparseGrok1(Path file) throws IOException {
        writeSparseGrok1(file, Q8_0);
    }

    /** {@link #writeSparseGrok1(Path)} with the experts in ggml type {@code expertType} (Q8_0, Q4_K or Q6_K). */
    static void writeSparseGrok1(Path file, int expertType) throws IOException {
        writeSparseGrok1(file, expertType, expertType, Q8_0);
    }

    /**
     * {@link #writeSparseGrok1(Path)} with the experts' gate and up in ggml type {@code gateUp}, their down in
     * {@code down}, and the tied table in {@code table}.
     */
    static void writeSparseGrok1(Path file, int gateUp, int down, int table) throws IOException {
        Header h = new Header();
        int tensors = 2 + L * 12;
        h.u32(0x46554747L).u32(3).u64(tensors).u64(6);
        h.str("general.architecture").u32(8).str("grok");
        h.str("grok.embedding_length").u32(4).u32(D);
        h.str("grok.block_count").u32(4).u32(L);
        h.str("grok.attention.head_count").u32(4).u32(48);
        h.str("grok.attention.head_count_kv").u32(4).u32(8);
        h.str("grok.expert_feed_forward_length").u32(4).u32(F);
        long[] offset = {0};
        h.tensor("token_embd.weight", table, offset, D, V);
        h.tensor("output_norm.weight", F32, offset, D);
        for (int l = 0; l < L; l++) {
            String p = "blk." + l + ".";
            h.tensor(p + "attn_norm.weight", F32, offset, D);
            h.tensor(p + "attn_q.weight", Q8_0, offset, D, D);
            h.tensor(p + "attn_k.weight", Q8_0, offset, D, 1024);
            h.tensor(p + "attn_v.weight", Q8_0, offset, D, 1024);
            h.tensor(p + "attn_output.weight", Q8_0, offset, D, D);
            h.tensor(p + "attn_output_norm.weight", F32, offset, D);
            h.tensor(p + "ffn_norm.weight", F32, offset, D);
            h.tensor(p + "ffn_gate_inp.weight", F32, offset, D, 8);
            h.tensor(p + "ffn_gate_exps.weight", gateUp, offset, D, F, 8);
            h.tensor(p + "ffn_up_exps.weight", gateUp, offset, D, F, 8);
            h.tensor(p + "ffn_down_exps.weight", down, offset, F, D, 8);
            h.tensor(p + "layer_output_norm.weight", F32, offset, D);
        }
        while (h.out.size() % 32 != 0) {
            h.out.write(0);
        }
        Files.write(file, h.out.toByteArray());
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(h.out.size() + offset[0]); // a hole: no data block is allocated
        }
    }

    /** Little-endian GGUF header fields. */
    static final class Header {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Header u32(long v) {
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
            return this;
        }

        Header u64(long v) {
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
            return this;
        }

        Header str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            out.writeBytes(b);
            return this;
        }

        /** A tensor info with ggml {@code ne}; advances the data offset by its bytes, 32-aligned. */
        void tensor(String name, int type, long[] offset, long... ne) {
            str(name).u32(ne.length);
            long n = 1;
            for (long d : ne) {
                u64(d);
                n *= d;
            }
            u32(type).u64(offset[0]);
            long bytes = type == Q8_0 ? q8(n) : type == Q6_K ? n / 256 * 210 : type == Q4_K ? n / 256 * 144 : 4 * n;
            offset[0] += (bytes + 31) / 32 * 32;
        }
    }
}
