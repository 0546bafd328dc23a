package grok1j.server;

import grok1j.generate.FinishReason;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.Sequence;
import grok1j.model.KvCache;
import grok1j.model.PrefixCache;
import grok1j.model.NonFiniteException;
import grok1j.model.Transformer;
import grok1j.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching: one thread runs the model over a shared batch, step after step. Every sequence (one choice
 * of a request) holds one of {@code parallel} slots, each with its own {@link KvCache}; sequences join the batch
 * between steps when a slot is free and leave it when they finish, are cancelled or fail. A step holds one token of
 * every decoding sequence plus prefill chunks of new prompts, at most {@link #PREFILL_TOKENS_PER_STEP} prompt
 * tokens (but always at least one chunk), so long prompts do not stall the others' decoding for long.
 *
 * <p>Sequences beyond the slots wait in a bounded queue; {@link #submit} refuses with 429 when the queue would
 * overflow. Results do not depend on the batch: each sequence has its own sampler and cache, and its cache is
 * cleared when it takes a slot.
 *
 * <p>Thread-safety: {@link #submit}, {@link #cancel} and {@link #shutdown} may be called from any thread; the model
 * is used by the scheduler thread only.
 */
final class Scheduler {
    private static final System.Logger LOG = System.getLogger(Scheduler.class.getName());
    /** Prompt tokens per step across all sequences in prefill (at least one chunk is always taken). */
    static final int PREFILL_TOKENS_PER_STEP = 2 * Sequence.PREFILL_CHUNK;

    /** What a request's handler receives from the scheduler, for choice {@code index}. */
    sealed interface Event permits PromptEvent, TokenEvent, DoneEvent, FailedEvent {
        int index();
    }

    /**
     * Log-probabilities of prompt tokens 1..n-1 (token 0 has none), for {@code echo} with {@code logprobs}; sent
     * once, before any token of the choice.
     */
    record PromptEvent(int index, List<TokenLogprobs> logprobs) implements Event {
    }

    /** A generated token and the text that became safe to show (possibly empty). */
    record TokenEvent(int index, int id, String text, TokenLogprobs logprobs) implements Event {
    }

    /** The choice ended; no more events for this index. */
    record DoneEvent(int index, GenerationResult result) implements Event {
    }

    /** The choice failed; no more events for this index. */
    record FailedEvent(int index, ApiException error) implements Event {
    }

    /** One HTTP request's sequences: where their events go, and whether the client went away. */
    static final class Request {
        final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        final AtomicBoolean cancelled = new AtomicBoolean();
        final long arrivalNanos = System.nanoTime();
    }

    /** One sequence to run. */
    static final class Job {
        final Request request;
        final int index;
        final int[] promptIds;
        final SamplingParams params;
        final int topLogprobs;
        final boolean promptLogprobs;
        /** Prompt positions run by the scheduler itself to score the prompt (before the sequence starts). */
        int scored;
        List<TokenLogprobs> promptLps;
        Sequence seq;
        int slot = -1;
        /** The prefix-cache blocks this sequence's prompt started from (null without a prefix cache). */
        PrefixCache.Lease lease;
        /** Prompt positions taken from the prefix cache. */
        int cachedTokens;
        /** Whether the prompt's blocks were offered to the prefix cache. */
        boolean offered;
        long lastTokenNanos;
        long slotNanos; // when it got a slot
        long firstTokenNanos;
        boolean sawToken;

        /**
         * @param topLogprobs    -1 for no log-probabilities, else how many top alternatives to report
         * @param promptLogprobs also report the prompt tokens' log-probabilities (needs {@code topLogprobs >= 0})
         */
        Job(Request request, int index, int[] promptIds, SamplingParams params, int topLogprobs, boolean promptLogprobs) {
            this.request = request;
            this.index = index;
            this.promptIds = promptIds;
            this.params = params;
            this.topLogprobs = topLogprobs;
            this.promptLogprobs = promptLogprobs && topLogprobs >= 0;
        }

        /** True while the scheduler scores prompt positions [0, n-1) itself; the sequence starts after. */
        boolean scoring() {
            return seq == null;
        }
    }

    private final Transformer network;
    private final Tokenizer tokenizer;
    /** Shared prompt prefixes, or null (off). */
    private final PrefixCache prefixCache;
    private final Metrics metrics;
    private final int parallel;
    private final int queueCapacity;
    private final KvCache[] caches;
    private final boolean[] slotUsed;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private int occupied; // running + waiting, under lock
    private boolean stopping;
    private long deadline;
    private final Thread thread;

    Scheduler(Transformer network, Tokenizer tokenizer, int parallel, int queueCapacity, Metrics metrics) {
        this(network, tokenizer, parallel, queueCapacity, metrics, null);
    }

    /** @param prefixCache prompt prefixes shared by all sequences, or null for none */
    Scheduler(Transformer network, Tokenizer tokenizer, int parallel, int queueCapacity, Metrics metrics,
              PrefixCache prefixCache) {
        if (parallel < 1) {
            throw new IllegalArgumentException("parallel must be >= 1, got " + parallel);
        }
        if (queueCapacity < 0) {
            throw new IllegalArgumentException("queue must be >= 0, got " + queueCapacity);
        }
        this.network = network;
        this.tokenizer = tokenizer;
        this.prefixCache = prefixCache;
        this.metrics = metrics;
        metrics.prefixCache = prefixCache;
        this.parallel = parallel;
        this.queueCapacity = queueCapacity;
        this.caches = new KvCache[parallel];
        this.slotUsed = new boolean[parallel];
        metrics.slots = parallel;
        metrics.kvCachePositionsTotal = (long) parallel * network.config().contextLength();
        this.thread = Thread.ofPlatform().name("grok1j-scheduler").daemon(true).unstarted(this::loop);
        thread.start();
    }

    /** Sequences that may run or wait at once: a request asking for more can never be served. */
    int capacity() {
        return parallel + queueCapacity;
    }

    /**
     * Queues all of a request's sequences, or none.
     *
     * @throws ApiException 429 when the queue cannot take them all, 503 when shutting down
     */
    void submit(List<Job> jobs) {
        lock.lock();
        try {
            if (stopping) {
                throw new ApiException(503, "server_error", null, "shutting_down", "the server is shutting down");
            }
            if (occupied + jobs.size() > parallel + queueCapacity) {
                metrics.rejected.increment();
                throw new ApiException(429, "rate_limit_error", null, "queue_full", "the server is busy: " + parallel
                        + " sequences are running and the wait queue of " + queueCapacity + " is full; retry later");
            }
            occupied += jobs.size();
            waiting.addAll(jobs);
            metrics.waiting.set(waiting.size());
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Marks the request cancelled: its waiting sequences are dropped now, its running ones at the next step. */
    void cancel(Request request) {
        if (!request.cancelled.compareAndSet(false, true)) {
            return;
        }
        lock.lock();
        try {
            int before = waiting.size();
            waiting.removeIf(j -> j.request == request);
            int dropped = before - waiting.size();
            occupied -= dropped;
            metrics.cancelled.add(dropped);
            metrics.waiting.set(waiting.size());
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops taking requests; waiting ones fail with 503 now, running ones may finish within {@code grace} and are
     * then failed with 503.
     */
    void shutdown(Duration grace) {
        lock.lock();
        try {
            if (!stopping) {
                stopping = true;
                deadline = System.nanoTime() + grace.toNanos();
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** False once the scheduler thread has ended (after shutdown, or if it died). */
    boolean alive() {
        return thread.isAlive();
    }

    /** Waits for the scheduler thread to end after {@link #shutdown}; returns whether it did. */
    boolean awaitTermination(Duration timeout) throws InterruptedException {
        thread.join(timeout);
        return !thread.isAlive();
    }

    private void loop() {
        List<Job> active = new ArrayList<>();
        while (true) {
            List<Job> admitted = new ArrayList<>();
            List<Job> refused = new ArrayList<>();
            boolean expired = false;
            lock.lock();
            try {
                while (active.isEmpty() && waiting.isEmpty() && !stopping) {
                    changed.awaitUninterruptibly();
                }
                if (stopping) {
                    refused.addAll(waiting);
                    waiting.clear();
                    expired = System.nanoTime() - deadline >= 0;
                }
                while (active.size() + admitted.size() < parallel && !waiting.isEmpty()) {
                    admitted.add(waiting.poll());
                }
                metrics.waiting.set(waiting.size());
            } finally {
                lock.unlock();
            }
            try {
                ApiException bye = new ApiException(503, "server_error", null, "shutting_down", "the server is shutting down");
                for (Job j : refused) {
                    releaseCount();
                    fail(j, bye);
                }
                if (expired) {
                    for (Job j : active) {
                        leave(j);
                        fail(j, bye);
                    }
                    active.clear();
                }
                for (Job j : admitted) {
                    try {
                        start(j, active);
                    } catch (RuntimeException | Error e) { // e.g. out of memory for its KV cache: fail this one only
                        LOG.log(System.Logger.Level.ERROR, "starting a sequence failed", e);
                        active.remove(j);
                        if (j.slot >= 0) {
                            leave(j);
                        } else {
                            releaseCount();
                        }
                        fail(j, new ApiException(500, "server_error", null, null, "could not start generation: " + e));
                    }
                }
                for (int i = active.size() - 1; i >= 0; i--) {
                    Job j = active.get(i);
                    if (j.request.cancelled.get()) {
                        if (j.seq != null) {
                            j.seq.cancel();
                        }
                        active.remove(i);
                        metrics.running.set(active.size());
                        leave(j);
                        metrics.cancelled.increment();
                    }
                }
                metrics.running.set(active.size());
                if (!active.isEmpty()) {
                    step(active);
                }
            } catch (RuntimeException | Error e) {
                // never let the loop die: handlers wait on it. Fail what was running (e.g. out of memory growing a cache).
                LOG.log(System.Logger.Level.ERROR, "scheduler step failed", e);
                ApiException err = new ApiException(500, "server_error", null, null, "generation failed: " + e);
                metrics.running.set(0);
                for (Job j : active) {
                    leave(j);
                    fail(j, err);
                }
                active.clear();
            }
            updateCacheMetrics(active);
            lock.lock();
            try {
                if (stopping && active.isEmpty() && waiting.isEmpty()) {
                    return;
                }
            } finally {
                lock.unlock();
            }
        }
    }

    /** Gives the job a slot with an empty cache and starts its sequence. */
    private void start(Job j, List<Job> active) {
        if (j.request.cancelled.get()) {
            releaseCount();
            metrics.cancelled.increment();
            return;
        }
        int slot = 0;
        while (slotUsed[slot]) {
            slot++;
        }
        if (caches[slot] == null) {
            caches[slot] = network.newCache();
        }
        caches[slot].clear();
        slotUsed[slot] = true;
        j.slot = slot;
        j.slotNanos = System.nanoTime();
        metrics.queueTime.observeNanos(j.slotNanos - j.request.arrivalNanos);
        metrics.promptTokens.add(j.promptIds.length);
        if (prefixCache != null && !j.promptLogprobs) {
            // the last prompt token always runs: its logits give the first sampled token
            j.lease = prefixCache.lookup(j.promptIds, j.promptIds.length - 1, caches[slot]);
            j.cachedTokens = j.lease.tokens();
        }
        if (j.promptLogprobs) {
            j.promptLps = new ArrayList<>();
            if (j.promptIds.length > 1) {
                active.add(j); // scoring steps first, see step()
                return;
            }
            j.request.events.add(new PromptEvent(j.index, j.promptLps));
        }
        if (startSequence(j)) {
            active.add(j);
        }
    }

    /**
     * Creates the job's sequence over its slot's cache (reusing positions a scoring prefill filled); false when the
     * job already ended (max_tokens 0, or refused).
     */
    private boolean startSequence(Job j) {
        try {
            j.seq = new Sequence(network, tokenizer, caches[j.slot], j.promptIds, j.params);
        } catch (IllegalArgumentException e) {
            leave(j);
            fail(j, ApiException.invalid("prompt", e.getMessage()));
            return false;
        }
        if (j.seq.finished()) { // max_tokens 0
            leave(j);
            done(j);
            return false;
        }
        return true;
    }

    /** One forward pass over the batch, then sampling and events. */
    private void step(List<Job> active) {
        List<Transformer.Step> steps = new ArrayList<>(active.size());
        List<Job> stepped = new ArrayList<>(active.size());
        int prefillBudget = PREFILL_TOKENS_PER_STEP;
        boolean anyPrefill = false;
        int prefilled = 0;
        for (Job j : active) {
            if (j.scoring()) {
                if (anyPrefill && prefillBudget <= 0) {
                    continue;
                }
                int n = Math.min(Sequence.PREFILL_CHUNK, j.promptIds.length - 1 - j.scored);
                anyPrefill = true;
                prefillBudget -= n;
                prefilled += n;
                steps.add(new Transformer.Step(j.promptIds, j.scored, n, caches[j.slot], Transformer.Logits.ALL, true));
            } else if (j.seq.inPrefill()) {
                if (anyPrefill && prefillBudget <= 0) {
                    continue;
                }
                Transformer.Step s = j.seq.nextStep();
                if (anyPrefill && s.count() > prefillBudget) {
                    continue;
                }
                anyPrefill = true;
                prefillBudget -= s.count();
                prefilled += s.count();
                steps.add(s);
            } else {
                steps.add(j.seq.nextStep());
            }
            stepped.add(j);
        }
        long t0 = System.nanoTime();
        List<float[]> logits;
        try {
            logits = network.forward(steps);
        } catch (RuntimeException e) {
            ApiException err = new ApiException(500, "server_error", null, null, "the forward pass failed: " + e);
            for (Job j : stepped) {
                active.remove(j);
                metrics.running.set(active.size());
                leave(j);
                fail(j, err);
            }
            return;
        }
        long now = System.nanoTime();
        metrics.steps.increment();
        metrics.stepDuration.observeNanos(now - t0);
        int generated = 0;
        for (int i = 0; i < stepped.size(); i++) {
            Job j = stepped.get(i);
            float[] l = logits.get(i);
            Sequence.Token t;
            try {
                if (j.scoring()) {
                    network.requireFinite(l, caches[j.slot], Transformer.Logits.ALL);
                    score(j, l, steps.get(i).count(), active);
                    continue;
                }
                t = j.seq.accept(l);
            } catch (NonFiniteException e) {
                // this sequence only: the others' rows are their own (results do not depend on the batch)
                LOG.log(System.Logger.Level.ERROR, e.getMessage());
                active.remove(j);
                leave(j);
                fail(j, new ApiException(500, "server_error", null, "non_finite_logits", e.getMessage()));
                continue;
            }
            offerPrompt(j);
            if (t != null) {
                TokenLogprobs lp = j.topLogprobs >= 0 ? TokenLogprobs.of(l, t.id(), j.topLogprobs) : null;
                metrics.generationTokens.increment();
                generated++;
                if (j.sawToken) {
                    metrics.interTokenLatency.observeNanos(now - j.lastTokenNanos);
                } else {
                    metrics.timeToFirstToken.observeNanos(now - j.request.arrivalNanos);
                    metrics.prefillTime.observeNanos(now - j.slotNanos);
                    j.firstTokenNanos = now;
                    j.sawToken = true;
                }
                j.lastTokenNanos = now;
                j.request.events.add(new TokenEvent(j.index, t.id(), t.textDelta(), lp));
            }
            if (j.seq.finished()) {
                active.remove(j);
                // the gauge before the slot is freed and the answer completes: a client (or awaitIdle) that sees
                // either must not still read this sequence as running
                metrics.running.set(active.size());
                leave(j);
                done(j);
            }
        }
        metrics.running.set(active.size());
        metrics.stepDone(now, prefilled, generated);
    }

    /**
     * Once the prompt has run (the cache holds exactly the prompt, all computed as prompt rows), offers its whole
     * blocks to the prefix cache.
     */
    private void offerPrompt(Job j) {
        if (prefixCache != null && !j.offered && !j.seq.inPrefill() && j.slot >= 0) {
            j.offered = true;
            KvCache c = caches[j.slot];
            if (c.length() >= j.promptIds.length) {
                prefixCache.insert(j.promptIds, j.promptIds.length, c);
            }
        }
    }

    /** Prompt log-probabilities from a scoring step's logits; starts the sequence once all are known. */
    private void score(Job j, float[] logits, int rows, List<Job> active) {
        int vocab = network.config().vocabSize();
        for (int r = 0; r < rows; r++) {
            // row r is position scored + r; it predicts the prompt token after it
            j.promptLps.add(TokenLogprobs.of(logits, r * vocab, vocab, j.promptIds[j.scored + r + 1], j.topLogprobs));
        }
        j.scored += rows;
        if (j.scored == j.promptIds.length - 1) {
            j.request.events.add(new PromptEvent(j.index, j.promptLps));
            if (!startSequence(j)) {
                active.remove(j);
            }
        }
    }

    private void done(Job j) {
        GenerationResult r = j.seq.result();
        (r.finishReason() == FinishReason.LENGTH ? metrics.finishedLength : metrics.finishedStop).increment();
        long now = System.nanoTime();
        metrics.e2eLatency.observeNanos(now - j.request.arrivalNanos);
        if (j.sawToken) {
            metrics.decodeTime.observeNanos(now - j.firstTokenNanos);
        }
        j.request.events.add(new DoneEvent(j.index, r));
    }

    /** Reports the failure; the caller has released the job's slot or queue place. */
    private void fail(Job j, ApiException e) {
        metrics.failed.increment();
        j.request.events.add(new FailedEvent(j.index, e));
    }

    /** Frees the job's slot. */
    private void leave(Job j) {
        if (j.lease != null) {
            j.lease.close();
            j.lease = null;
        }
        if (j.slot >= 0) {
            slotUsed[j.slot] = false;
            j.slot = -1;
            releaseCount();
        }
    }

    private void releaseCount() {
        lock.lock();
        try {
            occupied--;
        } finally {
            lock.unlock();
        }
    }

    private void updateCacheMetrics(List<Job> active) {
        long used = 0;
        for (Job j : active) {
            if (j.slot >= 0) {
                used += caches[j.slot].length();
            }
        }
        long bytes = 0;
        for (KvCache c : caches) {
            if (c != null) {
                bytes += c.allocatedBytes();
            }
        }
        metrics.kvCachePositionsUsed = used;
        metrics.kvCacheBytes = bytes;
    }

    /** For tests: waits until nothing runs or waits, up to {@code timeout}. */
    boolean awaitIdle(long timeout, TimeUnit unit) throws InterruptedException {
        long end = System.nanoTime() + unit.toNanos(timeout);
        while (System.nanoTime() < end) {
            lock.lock();
            try {
                if (occupied == 0) {
                    return true;
                }
            } finally {
                lock.unlock();
            }
            Thread.sleep(10);
        }
        return false;
    }
}
