package grok1j.cli;

import static grok1j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.gguf.GgufFile;
import grok1j.format.pickle.CheckpointLayout;
import grok1j.format.pickle.PickleShard;
import grok1j.format.pickle.PickledArray;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code inspect --check} finds planted NaN, Inf and absurd values, names the tensors, and exits 2. */
class InspectCheckTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void paths() throws Exception {
        CliTest.paths();
    }

    /** The tiny checkpoint as links, with shard {@code index} replaced by a copy (to be corrupted). */
    private Path checkpointWithCopiedShard(int index) throws IOException {
        Path ckpt = Files.createDirectories(dir.resolve("m/ckpt-0"));
        try (Stream<Path> files = Files.list(CliTest.tiny.resolve("ckpt-0"))) {
            for (Path f : files.toList()) {
                Files.createSymbolicLink(ckpt.resolve(f.getFileName()), f);
            }
        }
        Files.copy(CliTest.tiny.resolve("config.json"), ckpt.resolveSibling("config.json"));
        Files.createSymbolicLink(ckpt.resolveSibling("tokenizer.model"), CliTest.tiny.resolve("tokenizer.model"));
        Path shard = ckpt.resolve(String.format("tensor%05d_000", index));
        Files.delete(shard);
        Files.copy(CliTest.tiny.resolve("ckpt-0").resolve(shard.getFileName()), shard);
        return shard;
    }

    /** Overwrites element {@code i} of a stored array (f32 or bf16, little-endian) with {@code v}. */
    private static void plant(Path file, PickledArray a, long i, float v) throws IOException {
        byte[] b = Files.readAllBytes(file);
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (a.dtype() == PickledArray.DType.F32) {
            bb.putFloat((int) (a.offset() + 4 * i), v);
        } else {
            bb.putShort((int) (a.offset() + 2 * i), (short) (Float.floatToRawIntBits(v) >>> 16));
        }
        Files.write(file, b);
    }

    @Test
    void cleanModelPasses() {
        CliTest.Run r = run("inspect", "--model", CliTest.tiny.toString(), "--check");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("check: every weight of the 146 tensors is finite"), r.out());
        assertTrue(r.err().contains("check"), "progress bar: " + r.err());
    }

    /** A Grok-2 folder: every bf16 tensor of the 39 safetensors files, expert rank slices one by one. */
    @Test
    void grok2SafetensorsPass() {
        Path grok2 = CliTest.tiny.getParent().resolve("grok-2-tiny");
        CliTest.Run r = run("inspect", "--model", grok2.toString(), "--check");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("check: every weight of the "), r.out());
    }

    @Test
    void plantedNaNInAFloatTensorAndAnInfScaleAreNamed() throws IOException {
        CheckpointLayout layout = new CheckpointLayout(12);
        int norm = layout.fileIndex(3, CheckpointLayout.Slot.PRE_MOE_NORM);
        Path shard = checkpointWithCopiedShard(norm);
        plant(shard, PickleShard.read(shard).array(), 5, Float.NaN);
        int query = layout.fileIndex(7, CheckpointLayout.Slot.QUERY);
        Path q = shard.resolveSibling(String.format("tensor%05d_000", query));
        Files.delete(q);
        Files.copy(CliTest.tiny.resolve("ckpt-0").resolve(q.getFileName()), q);
        plant(q, PickleShard.read(q).scales(), 0, Float.POSITIVE_INFINITY);
        plant(q, PickleShard.read(q).scales(), 1, 3e5f);

        CliTest.Run r = run("inspect", "--model", shard.getParent().getParent().toString(), "--check");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.out().contains("check: 2 of 146 tensors hold NaN, Inf or absurd values:"), r.out());
        assertTrue(r.out().contains("transformer/decoder_layer_3/rms_norm_2/scale: values: 1 NaN, 0 +Inf, 0 -Inf, 0 above 1e+06"),
                r.out());
        assertTrue(r.out().contains("transformer/decoder_layer_7/multi_head_attention/query/w: int8 scales: 0 NaN, 1 +Inf,"
                + " 0 -Inf, 1 above 1e+04"), r.out());
        assertTrue(r.err().lines().anyMatch(l -> l.equals("grok1j: 2 tensors hold NaN, Inf or absurd values, first "
                + "transformer/decoder_layer_3/rms_norm_2/scale")), r.err());
    }

    @Test
    void ggufIsDequantizedAndChecked() throws IOException {
        Path gguf = dir.resolve("q8.gguf");
        assertEquals(0, run("convert", "--type", "q8_0", CliTest.tiny.toString(), gguf.toString()).status());
        long at;
        try (GgufFile f = GgufFile.open(gguf)) {
            at = f.tensor("blk.2.ffn_up_exps.weight").offset(); // first Q8_0 block: its f16 scale first
        }
        byte[] b = Files.readAllBytes(gguf);
        b[(int) at] = 0x00;
        b[(int) at + 1] = 0x7C; // f16 +Inf
        Files.write(gguf, b);
        CliTest.Run r = run("inspect", "--model", gguf.toString(), "--check");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.out().contains("check: 1 of "), r.out());
        assertTrue(r.out().contains("  blk.2.ffn_up_exps.weight: values: "), r.out());
    }
}
