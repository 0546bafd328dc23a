package grok1j.tokenizer;

import java.util.Arrays;

/**
 * An immutable map from byte sequences to non-negative ints (tiktoken ranks) that looks up a range of a byte array
 * without allocating: the byte-pair merge loop asks about every adjacent pair of parts of a piece.
 *
 * <p>Open addressing with linear probing over a power-of-two table, at most half full. Keys live in one array.
 */
final class ByteSequenceMap {
    private final byte[] keyBytes;
    private final int[] keyStart;   // by entry; keyStart[n] = keyBytes.length
    private final int[] values;     // by entry
    private final int[] table;      // entry index + 1, 0 = empty
    private final int mask;
    private final int maxKeyLength;

    /** @param keys distinct byte sequences; {@code values[i]} belongs to {@code keys[i]} */
    ByteSequenceMap(byte[][] keys, int[] values) {
        int total = 0;
        int longest = 0;
        for (byte[] k : keys) {
            total += k.length;
            longest = Math.max(longest, k.length);
        }
        maxKeyLength = longest;
        keyBytes = new byte[total];
        keyStart = new int[keys.length + 1];
        this.values = values.clone();
        int capacity = Integer.highestOneBit(Math.max(4, keys.length * 2 - 1)) << 1;
        table = new int[capacity];
        mask = capacity - 1;
        int at = 0;
        for (int i = 0; i < keys.length; i++) {
            keyStart[i] = at;
            System.arraycopy(keys[i], 0, keyBytes, at, keys[i].length);
            at += keys[i].length;
            keyStart[i + 1] = at;
            int slot = hash(keys[i], 0, keys[i].length) & mask;
            while (table[slot] != 0) {
                if (equalsKey(table[slot] - 1, keys[i], 0, keys[i].length)) {
                    throw new IllegalArgumentException("duplicate key " + Arrays.toString(keys[i]));
                }
                slot = (slot + 1) & mask;
            }
            table[slot] = i + 1;
        }
    }

    /** @return the value of {@code bytes[from, to)}, or -1 if it is not a key */
    int get(byte[] bytes, int from, int to) {
        if (to - from > maxKeyLength) {
            return -1; // no need to hash a long range: merges in a long piece mostly ask about these
        }
        int slot = hash(bytes, from, to) & mask;
        int entry;
        while ((entry = table[slot]) != 0) {
            if (equalsKey(entry - 1, bytes, from, to)) {
                return values[entry - 1];
            }
            slot = (slot + 1) & mask;
        }
        return -1;
    }

    private boolean equalsKey(int entry, byte[] bytes, int from, int to) {
        int start = keyStart[entry];
        int length = keyStart[entry + 1] - start; // set for every entry already inserted
        return length == to - from && Arrays.equals(keyBytes, start, start + length, bytes, from, to);
    }

    private static int hash(byte[] bytes, int from, int to) {
        int h = 0x811C9DC5; // FNV-1a, then a final mix so that linear probing sees spread-out low bits
        for (int i = from; i < to; i++) {
            h = (h ^ (bytes[i] & 0xFF)) * 0x01000193;
        }
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        return h ^ (h >>> 13);
    }
}
