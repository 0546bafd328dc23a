package grok1j.format.pickle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.TestFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The test-side official-format writer against the shards {@code shared/reference/ckpt_writer.py} wrote for
 * {@code fixtures/grok-1-tiny}: re-pickling each shard's arrays gives the same bytes; and the real release's file
 * sizes of spec §4.3 (payload + framing) come out for its shapes.
 */
class OfficialCheckpointWriterTest {

    static byte[] slice(byte[] all, PickledArray a) {
        return Arrays.copyOfRange(all, (int) a.offset(), (int) (a.offset() + a.length()));
    }

    static float[] floats(byte[] b) {
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    static short[] shorts(byte[] b) {
        short[] s = new short[b.length / 2];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(s);
        return s;
    }

    @Test
    void everyFixtureShardIsReproducedByteForByte() throws IOException {
        Path ckpt = TestFiles.tinyModel().resolve("ckpt-0");
        int files = new CheckpointLayout(12).fileCount();
        for (int i = 0; i < files; i++) {
            Path f = ckpt.resolve(CheckpointLayout.fileName(i));
            byte[] want = Files.readAllBytes(f);
            PickleShard s = PickleShard.read(f);
            byte[] got = s.quantized()
                    ? OfficialCheckpointWriter.quantizedShard(slice(want, s.array()), s.array().shape(),
                            shorts(slice(want, s.scales())), s.scales().shape())
                    : OfficialCheckpointWriter.f32Shard(floats(slice(want, s.array())), s.array().shape());
            assertArrayEquals(want, got, f.getFileName().toString());
        }
    }

    /**
     * Writing the loaded fixture's weights back as a checkpoint (streaming every array from the mapped shards)
     * reproduces every shard byte for byte, and the folder opens with the same config and tokenizer placement.
     */
    @Test
    void writingLoadedWeightsReproducesTheFixture(@TempDir Path dir) throws IOException {
        Path tiny = TestFiles.tinyModel();
        Path out = dir.resolve("copy");
        try (OfficialCheckpoint in = OfficialCheckpoint.open(tiny)) {
            OfficialCheckpointWriter.write(in.weights(), out, tiny.resolve("tokenizer.model"));
            int files = in.layout().fileCount();
            for (int i = 0; i < files; i++) {
                String name = CheckpointLayout.fileName(i);
                assertArrayEquals(Files.readAllBytes(tiny.resolve("ckpt-0").resolve(name)),
                        Files.readAllBytes(out.resolve("ckpt-0").resolve(name)), name);
            }
            try (OfficialCheckpoint copy = OfficialCheckpoint.open(out)) {
                assertEquals(in.config(), copy.config());
                assertEquals(out.resolve("tokenizer.model").toAbsolutePath(), copy.tokenizerPath().toAbsolutePath());
                try (var list = Files.list(out.resolve("ckpt-0"))) {
                    assertEquals(files, list.count());
                }
            }
        }
    }

    /** Spec §4.3: framing bytes of the released shards (file size minus payload) for their shapes. */
    @Test
    void framingOfTheReleasedShapes() {
        assertEquals(24727, OfficialCheckpointWriter.f32Shard(new float[6144], 6144).length);
        assertEquals(196770, OfficialCheckpointWriter.f32Shard(new float[6144 * 8], 6144, 8).length);
        assertEquals(6293814, quantizedSize(new long[] {6144, 1024}, new long[] {1, 1024}));
        assertEquals(37847359, quantizedSize(new long[] {6144, 6144}, new long[] {8, 6144}));
    }

    private static long quantizedSize(long[] wShape, long[] sShape) {
        int n = (int) (wShape[0] * wShape[1]);
        int m = (int) (sShape[0] * sShape[1]);
        return OfficialCheckpointWriter.quantizedShard(new byte[n], wShape, new short[m], sShape).length;
    }
}
