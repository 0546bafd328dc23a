package grok1j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged, foreign and unsupported files give one clear error naming the file, never a hang or an OOM. */
class SentencePieceModelErrorTest {
    @TempDir
    Path dir;

    @Test
    void emptyFile() throws IOException {
        Path file = write("empty.model", new byte[0]);
        assertRefused(file, "empty file");
    }

    @Test
    void truncatedRealModel() throws IOException {
        byte[] real = Files.readAllBytes(TokenizerFixtures.tokenizerModel());
        Random random = new Random(1);
        int[] cuts = {1, 2, 3, 100, 1000, real.length / 2, real.length - 1000, real.length - 30, real.length - 1};
        for (int cut : cuts) {
            assertRefused(write("cut-" + cut + ".model", Arrays.copyOf(real, cut)), "");
        }
        for (int i = 0; i < 20; i++) {
            int cut = 1 + random.nextInt(real.length - 1);
            assertRefused(write("random-cut-" + cut + ".model", Arrays.copyOf(real, cut)), "");
        }
        // Cut inside the piece table: the message says how many bytes were missing and where.
        TokenizerFormatException e = assertRefused(write("half.model", Arrays.copyOf(real, real.length / 2)), "");
        assertTrue(e.getMessage().contains("byte offset"), e.getMessage());
    }

    @Test
    void garbageBytes() throws IOException {
        Random random = new Random(2);
        for (int i = 0; i < 50; i++) {
            byte[] garbage = new byte[1 + random.nextInt(5000)];
            random.nextBytes(garbage);
            assertRefused(write("garbage-" + i + ".bin", garbage), "");
        }
        assertRefused(write("text.model", "This is not a tokenizer.\n".getBytes(StandardCharsets.UTF_8)), "");
        assertRefused(write("png.model", new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}), "");
    }

    @Test
    void hugeDeclaredLengthIsBoundedByTheFile() throws IOException {
        // Field 1, length-delimited, length 2^62: must fail on the length check, not allocate.
        byte[] bytes = {0x0A, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80,
            (byte) 0x80, (byte) 0x80, 0x40};
        TokenizerFormatException e = assertRefused(write("huge.model", bytes), "remain");
        assertTrue(e.getMessage().contains("byte offset 1"), e.getMessage());
        // Eleven continuation bytes: not a varint.
        byte[] endless = new byte[20];
        Arrays.fill(endless, (byte) 0xFF);
        assertRefused(write("endless.model", endless), "varint");
    }

    @Test
    void oversizedFileIsRefusedBeforeReading() throws IOException {
        Path file = dir.resolve("big.model");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(SentencePieceModel.MAX_FILE_BYTES + 1); // sparse: costs no disk
        }
        assertRefused(file, "too large");
    }

    @Test
    void missingFile() {
        assertThrows(NoSuchFileException.class, () -> Tokenizer.load(dir.resolve("absent.model")));
    }

    @Test
    void unsupportedModelType() throws IOException {
        byte[] unigram = validModel().trainerField(t -> t.varint(3, SentencePieceModel.UNIGRAM)).build();
        assertRefused(write("unigram.model", unigram), "model_type UNIGRAM");
        byte[] defaultType = validModel().trainer(new ModelProtoBuilder.Message()).build();
        assertRefused(write("default-type.model", defaultType), "model_type UNIGRAM");
    }

    @Test
    void unsupportedNormalizers() throws IOException {
        byte[] nfkc = validModel().normalizerField(n -> n.string(1, "nmt_nfkc").bytes(2, new byte[100])).build();
        assertRefused(write("nfkc.model", nfkc), "precompiled_charsmap");
        byte[] collapse = validModel().normalizerField(n -> n.bool(4, true)).build();
        assertRefused(write("collapse.model", collapse), "remove_extra_whitespaces");
        byte[] suffix = validModel().trainerField(t -> t.bool(24, true)).build();
        assertRefused(write("suffix.model", suffix), "treat_whitespace_as_suffix");
    }

    @Test
    void inconsistentPieceTables() throws IOException {
        assertRefused(write("dup.model", validModel().piece("a", 0, PieceType.NORMAL).build()), "already defined");
        assertRefused(write("emptypiece.model", validModel().piece("", 0, PieceType.NORMAL).build()), "empty");
        byte[] noUnk = new ModelProtoBuilder().piece("a", 0, PieceType.NORMAL).build();
        assertRefused(write("nounk.model", noUnk), "UNKNOWN");
        byte[] twoUnk = validModel().piece("<unk2>", 0, PieceType.UNKNOWN).build();
        assertRefused(write("twounk.model", twoUnk), "UNKNOWN");
        byte[] missingBytes = validModel().piece("<0x00>", 0, PieceType.BYTE).trainerField(t -> t.bool(35, true))
                .build();
        assertRefused(write("bytes.model", missingBytes), "<0x01>");
        byte[] byteWithoutFallback = validModel().piece("<0x00>", 0, PieceType.BYTE).build();
        assertRefused(write("nofallback.model", byteWithoutFallback), "byte_fallback");
        byte[] badByte = validModel().piece("<0xzz>", 0, PieceType.BYTE).trainerField(t -> t.bool(35, true))
                .build();
        assertRefused(write("badbyte.model", badByte), "<0xXX>");
        byte[] badType = new ModelProtoBuilder.Message().message(1,
                new ModelProtoBuilder.Message().string(1, "x").varint(3, 9)).toByteArray();
        assertRefused(write("badtype.model", badType), "unknown type 9");
        byte[] nan = validModel().piece("zz", Float.NaN, PieceType.NORMAL).build();
        assertRefused(write("nan.model", nan), "NaN");
        byte[] invalidUtf8 = new ModelProtoBuilder.Message().message(1,
                new ModelProtoBuilder.Message().bytes(1, new byte[] {(byte) 0xC3})).toByteArray();
        assertRefused(write("utf8.model", invalidUtf8), "UTF-8");
        byte[] wrongWireType = new ModelProtoBuilder.Message().message(1,
                new ModelProtoBuilder.Message().varint(1, 5)).toByteArray();
        assertRefused(write("wiretype.model", wrongWireType), "wire type");
    }

    @Test
    void validSyntheticModelLoads() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(write("ok.model", validModel().build()));
        assertEquals(4, tokenizer.vocabSize());
        assertEquals(0, tokenizer.unkId());
        assertEquals(1, tokenizer.bosId());
        assertEquals(2, tokenizer.eosId());
        assertEquals(-1, tokenizer.padId(), "no <pad> piece");
    }

    private static ModelProtoBuilder validModel() {
        return new ModelProtoBuilder().specialPieces().piece("a", 0, PieceType.NORMAL);
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    /** Loading must fail fast with a TokenizerFormatException naming the file (and saying {@code expected}). */
    private static TokenizerFormatException assertRefused(Path file, String expected) {
        TokenizerFormatException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> assertThrows(TokenizerFormatException.class, () -> Tokenizer.load(file), file.toString()));
        assertTrue(e.getMessage().startsWith(file.toString() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), () -> "expected \"" + expected + "\" in: " + e.getMessage());
        return e;
    }
}
