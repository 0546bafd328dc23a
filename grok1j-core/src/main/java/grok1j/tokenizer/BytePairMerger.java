package grok1j.tokenizer;

import java.util.Arrays;

/**
 * tiktoken's byte-pair merge (grok-2 spec §4.2 step 4) in O(n log n): start from single bytes and repeatedly merge
 * the adjacent pair whose concatenated bytes have the lowest rank, the leftmost on equal rank, until no adjacent
 * concatenation is a token.
 *
 * <p>tiktoken rescans all parts after each merge (O(n²)); here the candidate pairs sit in a binary heap keyed by
 * (rank, start offset), so "lowest rank, leftmost on tie" is the heap order. Parts form a linked list over start
 * offsets; a heap entry is stale, and skipped, once its part is gone or its pair's rank has changed. Not thread-safe:
 * one instance per thread (it reuses its arrays).
 */
final class BytePairMerger {
    private static final int NONE = -1;

    private final ByteSequenceMap ranks;
    private int[] next = new int[0];
    private int[] prev = new int[0];
    private int[] pairRank = new int[0]; // rank of the pair (part i, next part), NONE if none; -2 = part merged away
    private long[] heap = new long[0];
    private int heapSize;

    BytePairMerger(ByteSequenceMap ranks) {
        this.ranks = ranks;
    }

    /** Appends the ids of {@code piece} (at least 1 byte; every single byte is a token) to {@code out}. */
    void merge(byte[] piece, IntList out) {
        int n = piece.length;
        ensureCapacity(n);
        heapSize = 0;
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : NONE;
            prev[i] = i - 1;
        }
        for (int i = 0; i < n; i++) {
            pairRank[i] = rankOfPair(piece, i);
            if (pairRank[i] != NONE) {
                heap[heapSize++] = key(pairRank[i], i);
            }
        }
        for (int k = (heapSize >>> 1) - 1; k >= 0; k--) {
            siftDown(k, heap[k]); // heapify in O(n)
        }
        while (heapSize > 0) {
            long top = pop();
            int rank = (int) (top >>> 32);
            int i = (int) top;
            if (pairRank[i] != rank) {
                continue; // stale: the part was merged away or its pair changed
            }
            int j = next[i];
            next[i] = next[j];
            if (next[j] != NONE) {
                prev[next[j]] = i;
            }
            pairRank[j] = -2;
            pairRank[i] = rankOfPair(piece, i);
            if (pairRank[i] != NONE) {
                push(key(pairRank[i], i));
            }
            int p = prev[i];
            if (p != NONE) {
                pairRank[p] = rankOfPair(piece, p);
                if (pairRank[p] != NONE) {
                    push(key(pairRank[p], p));
                }
            }
        }
        for (int i = 0; i != NONE; i = next[i]) {
            out.add(ranks.get(piece, i, end(i, n)));
        }
    }

    private int end(int i, int n) {
        return next[i] == NONE ? n : next[i];
    }

    /** Rank of the bytes of part {@code i} joined with the next part, or NONE. */
    private int rankOfPair(byte[] piece, int i) {
        int j = next[i];
        if (j == NONE) {
            return NONE;
        }
        int rank = ranks.get(piece, i, end(j, piece.length));
        return rank < 0 ? NONE : rank;
    }

    private static long key(int rank, int start) {
        return ((long) rank << 32) | start;
    }

    private void ensureCapacity(int n) {
        if (next.length < n) {
            int capacity = Math.max(n, next.length * 2);
            next = new int[capacity];
            prev = new int[capacity];
            pairRank = new int[capacity];
        }
        if (heap.length < 2 * n) {
            heap = new long[Math.max(2 * n, heap.length * 2)];
        }
    }

    private void push(long value) {
        if (heapSize == heap.length) {
            heap = Arrays.copyOf(heap, heap.length * 2);
        }
        int k = heapSize++;
        while (k > 0) {
            int parent = (k - 1) >>> 1;
            if (heap[parent] <= value) {
                break;
            }
            heap[k] = heap[parent];
            k = parent;
        }
        heap[k] = value;
    }

    private long pop() {
        long top = heap[0];
        long last = heap[--heapSize];
        if (heapSize > 0) {
            siftDown(0, last);
        }
        return top;
    }

    /** Places {@code value} at slot {@code k} or below, restoring the heap order under {@code k}. */
    private void siftDown(int k, long value) {
        int half = heapSize >>> 1;
        while (k < half) {
            int child = 2 * k + 1;
            if (child + 1 < heapSize && heap[child + 1] < heap[child]) {
                child++;
            }
            if (value <= heap[child]) {
                break;
            }
            heap[k] = heap[child];
            k = child;
        }
        heap[k] = value;
    }

    /** A growable int array (the encoder's output). */
    static final class IntList {
        private int[] values = new int[16];
        private int size;

        void add(int v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        int size() {
            return size;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
