package grok1j.model;

import grok1j.parallel.Communicator;
import java.lang.ref.Cleaner;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * How the ranks of a tensor-parallel job stay in step (spec distributed.md §2.3): before each forward call rank 0
 * broadcasts what it runs, and every other rank runs the same call on its own copies of the sequences' caches.
 *
 * <p>A call is one int message: {@code [kind, length, steps, released, released ids..., then per step: cache id,
 * cache length before the step, token count, logits mode (| 8 for prompt rows), tokens...]}. The first {@link #HEADER} ints go in one
 * broadcast, so a decode step of a batch costs one broadcast; a longer message (a long prefill) sends the rest in a
 * second one. The cache length lets a follower mirror what rank 0 did to the cache between calls (a prefix reused,
 * {@link KvCache#truncate}, {@link KvCache#clear}); caches rank 0 no longer holds (garbage collected) are released
 * on the followers with the next call.
 */
final class Lockstep {
    static final int HEADER = 1024;
    private static final int STEP = 1;
    private static final int STOP = 2;
    /** Flag on a step's logits mode: its rows are prompt rows ({@link Transformer.Step#prompt()}). */
    private static final int PROMPT = 8;
    private static final Cleaner CLEANER = Cleaner.create();

    private final Communicator comm;
    private final Transformer model;
    private final int[] header = new int[HEADER];
    /** Rank 0: ids of caches collected since the last call. */
    private final ConcurrentLinkedQueue<Integer> released = new ConcurrentLinkedQueue<>();
    /** Other ranks: their copy of each of rank 0's live caches, by id. */
    private final Map<Integer, KvCache> caches = new HashMap<>();

    Lockstep(Communicator comm, Transformer model) {
        this.comm = comm;
        this.model = model;
    }

    /** Rank 0: the followers drop their copy of {@code cache} once rank 0 no longer references it. */
    void track(KvCache cache) {
        if (comm.rank() == 0) {
            int id = cache.id();
            CLEANER.register(cache, () -> released.add(id));
        }
    }

    /** Rank 0: broadcasts one forward call. */
    void lead(List<Transformer.Step> steps) {
        List<Integer> gone = new ArrayList<>();
        for (Integer id; (id = released.poll()) != null; ) {
            gone.add(id);
        }
        int length = 4 + gone.size();
        for (Transformer.Step st : steps) {
            length += 4 + st.count();
        }
        int[] m = length <= HEADER ? header : new int[length];
        m[0] = STEP;
        m[1] = length;
        m[2] = steps.size();
        m[3] = gone.size();
        int at = 4;
        for (int id : gone) {
            m[at++] = id;
        }
        for (Transformer.Step st : steps) {
            m[at++] = st.cache().id();
            m[at++] = st.cache().length();
            m[at++] = st.count();
            m[at++] = st.which().ordinal() | (st.prompt() ? PROMPT : 0);
            System.arraycopy(st.tokens(), st.offset(), m, at, st.count());
            at += st.count();
        }
        send(m, length);
    }

    /** Rank 0: ends the followers' loops. */
    void stop() {
        header[0] = STOP;
        header[1] = 2;
        send(header, 2);
    }

    /** {@code m} holds at least {@link #HEADER} ints (every rank receives that many: collectives need equal counts). */
    private void send(int[] m, int length) {
        comm.broadcast(m, 0, HEADER, 0);
        if (length > HEADER) {
            comm.broadcast(m, HEADER, length - HEADER, 0);
        }
    }

    /**
     * Other ranks: the next call, its caches mapped to this rank's copies; null once rank 0 stopped.
     *
     * @throws IllegalStateException if the message does not fit this rank's caches
     */
    List<Transformer.Step> next() {
        comm.broadcast(header, 0, HEADER, 0);
        if (header[0] == STOP) {
            return null;
        }
        if (header[0] != STEP || header[1] < 4) {
            throw new IllegalStateException("unexpected message " + header[0] + " from rank 0");
        }
        int length = header[1];
        int[] m = header;
        if (length > HEADER) {
            m = java.util.Arrays.copyOf(header, length);
            comm.broadcast(m, HEADER, length - HEADER, 0);
        }
        int steps = m[2];
        int at = 4;
        for (int i = 0; i < m[3]; i++) {
            caches.remove(m[at++]);
        }
        Transformer.Logits[] modes = Transformer.Logits.values();
        List<Transformer.Step> out = new ArrayList<>(steps);
        for (int s = 0; s < steps; s++) {
            int id = m[at++];
            int before = m[at++];
            int count = m[at++];
            int mode = m[at++];
            Transformer.Logits which = modes[mode & ~PROMPT];
            KvCache cache = caches.computeIfAbsent(id, k -> model.newCache());
            if (cache.length() < before) {
                throw new IllegalStateException("rank 0's cache " + id + " holds " + before + " positions, this rank's copy "
                        + cache.length());
            }
            cache.truncate(before);
            int[] tokens = java.util.Arrays.copyOfRange(m, at, at + count);
            at += count;
            out.add(new Transformer.Step(tokens, 0, count, cache, which, (mode & PROMPT) != 0));
        }
        return out;
    }
}
