package grok1j.tokenizer;

/**
 * Piece text → id, looked up by a range of a {@code char[]} without creating a String.
 *
 * <p>BPE asks "is the concatenation of these two neighbouring symbols a piece?" a few times per input character;
 * the symbols are adjacent ranges of the normalized text, so the question is a lookup of one range. An open-addressing
 * table with linear probing keeps that allocation-free.
 */
final class PieceTable {
    private static final int EMPTY = -1;

    private String[] keys;
    private int[] hashes;
    private int[] ids;
    private int size;
    private int maxKeyLength;

    PieceTable(int expectedSize) {
        int capacity = Integer.highestOneBit(Math.max(16, expectedSize * 2 - 1)) << 1;
        allocate(capacity);
    }

    /** @return the number of pieces in the table */
    int size() {
        return size;
    }

    /** @return the length in chars of the longest key; longer ranges cannot match */
    int maxKeyLength() {
        return maxKeyLength;
    }

    /**
     * Adds {@code key → id} unless the key is present.
     *
     * @return -1 if added, else the id already stored for the key
     */
    int putIfAbsent(String key, int id) {
        int h = key.hashCode();
        int mask = keys.length - 1;
        for (int slot = spread(h) & mask; ; slot = (slot + 1) & mask) {
            if (ids[slot] == EMPTY) {
                keys[slot] = key;
                hashes[slot] = h;
                ids[slot] = id;
                maxKeyLength = Math.max(maxKeyLength, key.length());
                if (++size * 2 > keys.length) {
                    rehash();
                }
                return -1;
            }
            if (hashes[slot] == h && keys[slot].equals(key)) {
                return ids[slot];
            }
        }
    }

    /** @return the id of {@code key}, or -1 */
    int get(String key) {
        return get(key.toCharArray(), 0, key.length());
    }

    /** @return the id of the piece spelled by {@code text[from, to)}, or -1 */
    int get(char[] text, int from, int to) {
        int length = to - from;
        if (length > maxKeyLength) {
            return -1;
        }
        // Same hash as String.hashCode(), so stored keys hash the same way.
        int h = 0;
        for (int i = from; i < to; i++) {
            h = 31 * h + text[i];
        }
        int mask = keys.length - 1;
        for (int slot = spread(h) & mask; ids[slot] != EMPTY; slot = (slot + 1) & mask) {
            if (hashes[slot] == h && matches(keys[slot], text, from, length)) {
                return ids[slot];
            }
        }
        return -1;
    }

    private static boolean matches(String key, char[] text, int from, int length) {
        if (key.length() != length) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            if (key.charAt(i) != text[from + i]) {
                return false;
            }
        }
        return true;
    }

    /** String.hashCode is weak in the low bits for short keys; mix before masking. */
    private static int spread(int h) {
        h *= 0x9E3779B9;
        return h ^ (h >>> 16);
    }

    private void allocate(int capacity) {
        keys = new String[capacity];
        hashes = new int[capacity];
        ids = new int[capacity];
        java.util.Arrays.fill(ids, EMPTY);
    }

    private void rehash() {
        String[] oldKeys = keys;
        int[] oldIds = ids;
        allocate(keys.length * 2);
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldIds[i] != EMPTY) {
                putIfAbsent(oldKeys[i], oldIds[i]);
            }
        }
    }
}
