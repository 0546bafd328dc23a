package grok1j.tokenizer;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * SentencePiece BPE encoding (spec §7.2), O(n log n) in the input length.
 *
 * <p>The normalized text is cut into initial symbols (a user-defined piece, longest match, frozen; else one code
 * point). The symbols form a doubly linked list over index arrays; every adjacent pair of unfrozen symbols whose
 * concatenation is a piece is a merge candidate in a binary heap ordered by the piece's score, ties to the leftmost
 * pair. Popping a candidate whose symbols have changed since it was pushed is skipped; merging pushes the two new
 * neighbour pairs. So each merge costs O(log n) instead of a rescan of all pairs.
 *
 * <p>Not thread-safe by itself; {@link Tokenizer} creates one per call.
 */
final class BpeEncoder {
    private final Vocabulary vocab;
    private final char[] text;
    private final int symbolCount;

    // Symbols: [start, start + length) of text; a merged-away symbol has length 0.
    private final int[] start;
    private final int[] length;
    private final int[] prev;
    private final int[] next;
    private final boolean[] frozen;

    // Merge candidates, and a binary max-heap of candidate indices.
    private int[] candLeft;
    private int[] candRight;
    private int[] candLength;
    private float[] candScore;
    private int candidateCount;
    private int[] heap;
    private int heapSize;

    /** For UNUSED pieces made by a merge: the length of their left part, to split them again on output. */
    private Map<String, Integer> unusedSplits;
    private final byte[] utf8 = new byte[4];

    private BpeEncoder(Vocabulary vocab, char[] text) {
        this.vocab = vocab;
        this.text = text;
        int n = text.length;
        start = new int[n];
        length = new int[n];
        prev = new int[n];
        next = new int[n];
        frozen = new boolean[n];
        int count = 0;
        for (int pos = 0; pos < n; count++) {
            int matched = vocab.userSymbols().longestMatch(text, pos, n);
            frozen[count] = matched > 0;
            if (matched == 0) {
                matched = Character.isHighSurrogate(text[pos]) && pos + 1 < n
                        && Character.isLowSurrogate(text[pos + 1]) ? 2 : 1;
            }
            start[count] = pos;
            length[count] = matched;
            prev[count] = count - 1;
            next[count] = count + 1;
            pos += matched;
        }
        symbolCount = count;
        if (count > 0) {
            next[count - 1] = -1;
        }
        // Grown on demand: there are at most (count - 1) initial candidates plus two per merge.
        int capacity = Math.max(16, count);
        candLeft = new int[capacity];
        candRight = new int[capacity];
        candLength = new int[capacity];
        candScore = new float[capacity];
        heap = new int[capacity];
    }

    /**
     * Encodes already-normalized text into piece ids.
     *
     * @param vocab      the pieces
     * @param normalized text after {@link Vocabulary#normalize}
     * @return the ids, byte pieces for characters outside the vocabulary when byte fallback is on
     */
    static int[] encode(Vocabulary vocab, char[] normalized) {
        if (normalized.length == 0) {
            return new int[0];
        }
        BpeEncoder encoder = new BpeEncoder(vocab, normalized);
        encoder.merge();
        return encoder.output();
    }

    private void merge() {
        for (int i = 1; i < symbolCount; i++) {
            addCandidate(i - 1, i);
        }
        while (heapSize > 0) {
            int c = pop();
            int left = candLeft[c];
            int right = candRight[c];
            // Stale: one side was merged away, or the right symbol grew since the candidate was pushed.
            // (The left one cannot grow without absorbing `right`.)
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != candLength[c]) {
                continue;
            }
            length[left] += length[right];
            length[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            addCandidate(prev[left], left);
            addCandidate(left, next[left]);
        }
    }

    private void addCandidate(int left, int right) {
        if (left < 0 || right < 0 || frozen[left] || frozen[right]) {
            return;
        }
        int from = start[left];
        int to = from + length[left] + length[right]; // neighbours are adjacent ranges of the text
        int id = vocab.mergeable().get(text, from, to);
        if (id < 0) {
            return;
        }
        if (vocab.type(id) == PieceType.UNUSED) {
            // SentencePiece records the split when the candidate is pushed, the last push winning.
            if (unusedSplits == null) {
                unusedSplits = new HashMap<>();
            }
            unusedSplits.put(new String(text, from, to - from), length[left]);
        }
        if (candidateCount == candLeft.length) {
            int capacity = candidateCount * 2;
            candLeft = Arrays.copyOf(candLeft, capacity);
            candRight = Arrays.copyOf(candRight, capacity);
            candLength = Arrays.copyOf(candLength, capacity);
            candScore = Arrays.copyOf(candScore, capacity);
            heap = Arrays.copyOf(heap, capacity);
        }
        int c = candidateCount++;
        candLeft[c] = left;
        candRight[c] = right;
        candLength[c] = to - from;
        candScore[c] = vocab.score(id);
        push(c);
    }

    /** Heap order: higher score first; equal scores, the leftmost pair first. */
    private boolean before(int a, int b) {
        return candScore[a] > candScore[b] || (candScore[a] == candScore[b] && candLeft[a] < candLeft[b]);
    }

    private void push(int c) {
        int i = heapSize++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!before(c, heap[parent])) {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = c;
    }

    private int pop() {
        int top = heap[0];
        int last = heap[--heapSize];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= heapSize) {
                break;
            }
            if (child + 1 < heapSize && before(heap[child + 1], heap[child])) {
                child++;
            }
            if (!before(heap[child], last)) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        if (heapSize > 0) {
            heap[i] = last;
        }
        return top;
    }

    private int[] output() {
        IdSink out = new IdSink(symbolCount);
        for (int i = 0; i != -1; i = next[i]) {
            emit(start[i], start[i] + length[i], out);
        }
        return out.toArray();
    }

    /** Maps one final symbol to ids: UNUSED pieces split again, unknown ones become bytes (spec §7.2 step 4). */
    private void emit(int from, int to, IdSink out) {
        int id = vocab.reserved().get(text, from, to);
        if (id < 0) {
            id = vocab.mergeable().get(text, from, to);
        }
        if (id < 0) {
            id = vocab.unknownId();
        }
        PieceType type = vocab.type(id);
        if (type == PieceType.UNUSED && unusedSplits != null) {
            Integer leftLength = unusedSplits.get(new String(text, from, to - from));
            if (leftLength != null) {
                emit(from, from + leftLength, out);
                emit(from + leftLength, to, out);
                return;
            }
        }
        boolean unknown = type == PieceType.UNKNOWN;
        if (unknown && vocab.byteFallback()) {
            for (int pos = from; pos < to; ) {
                int cp = Character.codePointAt(text, pos);
                int n = Utf8.encode(cp, utf8, 0);
                for (int k = 0; k < n; k++) {
                    out.add(vocab.byteId(utf8[k] & 0xFF));
                }
                pos += Character.charCount(cp);
            }
        } else if (!(unknown && out.lastWasUnknown)) {
            // Without byte fallback a run of unknown symbols becomes a single unknown id, as in SentencePiece.
            out.add(id);
        }
        out.lastWasUnknown = unknown;
    }

    /** A growable int array for the output ids. */
    private static final class IdSink {
        int[] ids;
        int size;
        boolean lastWasUnknown;

        IdSink(int capacity) {
            ids = new int[Math.max(8, capacity)];
        }

        void add(int id) {
            if (size == ids.length) {
                ids = Arrays.copyOf(ids, size * 2);
            }
            ids[size++] = id;
        }

        int[] toArray() {
            return Arrays.copyOf(ids, size);
        }
    }
}
