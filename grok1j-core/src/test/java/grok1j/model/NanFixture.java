package grok1j.model;

import grok1j.TestFiles;
import grok1j.format.pickle.CheckpointLayout;
import grok1j.format.pickle.PickleShard;
import grok1j.format.pickle.PickledArray;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * A copy of {@code fixtures/grok-1-tiny} (real files in a temp folder, never links: the shared fixtures are read-only)
 * with NaN planted in one weight, for the numerical guard rails' tests (CLI, server, Java API).
 */
public final class NanFixture {
    private NanFixture() {}

    /** Copies the tiny fixture (config, tokenizer, every shard) into {@code dir}; returns the model folder. */
    public static Path copy(Path dir) throws IOException {
        Path src = TestFiles.tinyModel();
        Path model = Files.createDirectories(dir.resolve("grok-1-tiny-nan"));
        Path ckpt = Files.createDirectories(model.resolve("ckpt-0"));
        for (String f : new String[] {"config.json", "tokenizer.model"}) {
            Files.copy(src.resolve(f), model.resolve(f));
        }
        try (Stream<Path> files = Files.list(src.resolve("ckpt-0"))) {
            for (Path f : files.toList()) {
                Files.copy(f, ckpt.resolve(f.getFileName()));
            }
        }
        return model;
    }

    /**
     * The tiny fixture copied into {@code dir} with NaN as the first bf16 scale of expert {@code expert}'s weights of
     * {@code slot} (GATE, UP or DOWN) in {@code layer}: that expert's output goes NaN, no other's does.
     */
    public static Path withNaNInExpert(Path dir, int layer, CheckpointLayout.Slot slot, int expert) throws IOException {
        Path model = copy(dir);
        int experts = 8;
        Path shard = shard(model, layer, slot);
        PickledArray scales = PickleShard.read(shard).scales();
        long perExpert = scales.length() / 2 / experts;
        plant(shard, scales, expert * perExpert, Float.NaN);
        return model;
    }

    /** The tiny fixture copied into {@code dir} with NaN as the first bf16 scale of an int8 matrix (e.g. QUERY). */
    public static Path withNaNInMatrix(Path dir, int layer, CheckpointLayout.Slot slot) throws IOException {
        Path model = copy(dir);
        Path shard = shard(model, layer, slot);
        plant(shard, PickleShard.read(shard).scales(), 0, Float.NaN);
        return model;
    }

    /** The tiny fixture copied into {@code dir} with NaN as element {@code i} of a float32 tensor (a norm's scale). */
    public static Path withNaNInNorm(Path dir, int layer, CheckpointLayout.Slot slot, long i) throws IOException {
        Path model = copy(dir);
        Path shard = shard(model, layer, slot);
        plant(shard, PickleShard.read(shard).array(), i, Float.NaN);
        return model;
    }

    private static Path shard(Path model, int layer, CheckpointLayout.Slot slot) {
        int index = new CheckpointLayout(12).fileIndex(layer, slot);
        return model.resolve("ckpt-0").resolve(CheckpointLayout.fileName(index));
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
}
