package grok1j.format.pickle;

import grok1j.format.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Little-endian positional reads over a shard with a small window, for the pickle header only. Payloads are
 * {@link #skip skipped} by moving the position, so a 3 GB shard costs two or three 4 KiB reads. Every read checks
 * the file size first: a truncated or lying file yields a "truncated at offset N" error, never a huge allocation or
 * an endless wait.
 */
final class ShardInput implements AutoCloseable {
    private static final int WINDOW = 4096;

    private final FileChannel channel;
    private final String name;
    private final long size;
    private final ByteBuffer window = ByteBuffer.allocate(WINDOW).order(ByteOrder.LITTLE_ENDIAN);
    /** File offset of {@code window[0]}; the window holds {@code [windowStart, windowStart + window.limit())}. */
    private long windowStart;
    private long pos;

    private ShardInput(FileChannel channel, String name, long size) {
        this.channel = channel;
        this.name = name;
        this.size = size;
        window.limit(0);
    }

    static ShardInput open(Path file) throws ModelFormatException {
        String name = file.getFileName().toString();
        try {
            FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
            try {
                return new ShardInput(ch, name, ch.size());
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(name + ": no such file: " + file);
        } catch (IOException e) {
            throw new ModelFormatException(name + ": cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    String name() { return name; }
    long size() { return size; }
    long position() { return pos; }
    long remaining() { return size - pos; }

    /** Fails unless {@code n} more bytes exist; {@code n} is unsigned (a BINBYTES8 length may be anything). */
    void require(long n, String what) throws ModelFormatException {
        if (n < 0 || n > size - pos) {
            throw new ModelFormatException(name + ": truncated at offset " + pos + ": expected " + Long.toUnsignedString(n)
                    + " bytes of " + what + ", only " + (size - pos) + " left (file has " + size + " bytes)");
        }
    }

    int u8(String what) throws ModelFormatException {
        fill(1, what);
        return window.get((int) (pos++ - windowStart)) & 0xFF;
    }

    int u16(String what) throws ModelFormatException {
        fill(2, what);
        int v = window.getShort((int) (pos - windowStart)) & 0xFFFF;
        pos += 2;
        return v;
    }

    int i32(String what) throws ModelFormatException {
        fill(4, what);
        int v = window.getInt((int) (pos - windowStart));
        pos += 4;
        return v;
    }

    long u32(String what) throws ModelFormatException {
        return i32(what) & 0xFFFF_FFFFL;
    }

    /** A u64 as a long; values above {@link Long#MAX_VALUE} come back negative and fail {@link #require}. */
    long u64(String what) throws ModelFormatException {
        fill(8, what);
        long v = window.getLong((int) (pos - windowStart));
        pos += 8;
        return v;
    }

    /**
     * {@code n} bytes as UTF-8; callers bound {@code n} (header strings are short). Malformed UTF-8 is an error (a
     * pickle from numpy never holds any; a replacement character could make a refused name look like an allowed one).
     */
    String utf8(int n, String what) throws ModelFormatException {
        if (n > WINDOW) {
            throw new IllegalArgumentException("string longer than the read window");
        }
        fill(n, what);
        String s = strictUtf8(window.array(), (int) (pos - windowStart), n, pos, what);
        pos += n;
        return s;
    }

    private String strictUtf8(byte[] b, int off, int n, long at, String what) throws ModelFormatException {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b, off, n)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(name + ": offset " + at + ": " + what + " is not valid UTF-8");
        }
    }

    /** A newline-terminated line (GLOBAL operands), at most {@code max} bytes without the newline. */
    String line(int max, String what) throws ModelFormatException {
        long start = pos;
        byte[] b = new byte[max];
        for (int n = 0; n <= max; n++) {
            int c = u8(what);
            if (c == '\n') {
                return strictUtf8(b, 0, n, start, what);
            }
            if (n == max) {
                break;
            }
            b[n] = (byte) c;
        }
        throw new ModelFormatException(name + ": offset " + start + ": " + what + " is longer than " + max + " bytes");
    }

    /** Moves past {@code n} payload bytes without reading them. */
    void skip(long n, String what) throws ModelFormatException {
        require(n, what);
        pos += n;
    }

    /** Makes {@code [pos, pos + n)} available in the window, reading at {@code pos} if it is not. */
    private void fill(int n, String what) throws ModelFormatException {
        require(n, what);
        if (pos >= windowStart && pos + n <= windowStart + window.limit()) {
            return;
        }
        window.clear();
        windowStart = pos;
        try {
            while (window.position() < n) {
                if (channel.read(window, windowStart + window.position()) < 0) {
                    break;
                }
            }
        } catch (IOException e) {
            throw new ModelFormatException(name + ": read error at offset " + pos + ": " + e.getMessage(), e);
        }
        window.flip();
        if (window.limit() < n) {
            // the file shrank after its size was taken
            throw new ModelFormatException(name + ": truncated at offset " + (windowStart + window.limit())
                    + ": expected " + n + " bytes of " + what);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // read-only channel: nothing to flush, nothing to report
        }
    }
}
