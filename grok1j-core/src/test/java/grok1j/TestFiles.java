package grok1j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Locations of the shared fixtures and small readers for them. */
public final class TestFiles {
    private TestFiles() {}

    /** The shared folder (fixtures, tokenizer), from the {@code grok1j.shared} system property set by the pom. */
    public static Path shared() {
        String p = System.getProperty("grok1j.shared");
        if (p == null) {
            p = "../../shared";
        }
        return Path.of(p).toAbsolutePath().normalize();
    }

    public static Path tinyModel() {
        return shared().resolve("fixtures/grok-1-tiny");
    }

    /** The random-weight Grok-2 in the release layout (grok-2 spec §8.1). */
    public static Path grok2Tiny() {
        return shared().resolve("fixtures/grok-2-tiny");
    }

    public static Path tokenizerModel() {
        return shared().resolve("models/grok-1/tokenizer.model");
    }

    /** Reads a little-endian float32 {@code .npy} file (version 1 or 2 header, C order). */
    public static float[] readNpyFloat32(Path path) throws IOException {
        byte[] all = Files.readAllBytes(path);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (all[0] != (byte) 0x93 || all[1] != 'N') {
            throw new IOException(path + ": not a .npy file");
        }
        int major = all[6];
        int headerLen = major == 1 ? Short.toUnsignedInt(b.getShort(8)) : b.getInt(8);
        int dataStart = (major == 1 ? 10 : 12) + headerLen;
        String header = new String(all, major == 1 ? 10 : 12, headerLen, StandardCharsets.ISO_8859_1);
        if (!header.contains("'<f4'") || header.contains("'fortran_order': True")) {
            throw new IOException(path + ": expected little-endian float32 in C order, header " + header);
        }
        int n = (all.length - dataStart) / 4;
        float[] out = new float[n];
        b.position(dataStart);
        b.asFloatBuffer().get(out);
        return out;
    }
}
