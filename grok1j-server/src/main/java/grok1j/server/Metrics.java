package grok1j.server;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * The server's Prometheus metrics, rendered in the text exposition format (version 0.0.4) by {@link #render()}.
 * All names start with {@code grok1j_}. Thread-safe.
 */
public final class Metrics {
    private static final double[] LATENCY_BUCKETS = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    final AtomicLong running = new AtomicLong();
    final AtomicLong waiting = new AtomicLong();
    final LongAdder promptTokens = new LongAdder();
    final LongAdder generationTokens = new LongAdder();
    final LongAdder finishedStop = new LongAdder();
    final LongAdder finishedLength = new LongAdder();
    final LongAdder cancelled = new LongAdder();
    final LongAdder failed = new LongAdder();
    final LongAdder rejected = new LongAdder();
    final LongAdder httpRequests = new LongAdder();
    final LongAdder steps = new LongAdder();
    final Histogram timeToFirstToken = new Histogram(LATENCY_BUCKETS);
    final Histogram interTokenLatency = new Histogram(LATENCY_BUCKETS);
    final Histogram stepDuration = new Histogram(LATENCY_BUCKETS);
    volatile long kvCachePositionsUsed;
    volatile long kvCachePositionsTotal;
    volatile long kvCacheBytes;
    volatile int slots;

    // ---- prefix cache (issue 14 item 2): a separate block, names after vLLM's prefix_cache_queries/hits ----
    /** The shared prefix cache, or null when it is off. */
    volatile grok1j.model.PrefixCache prefixCache;
    /** Prompt tokens actually run through the model (prompt tokens minus those served by the prefix cache). */
    final LongAdder promptTokensComputed = new LongAdder();

    /** Sequences currently holding a slot in the batch. */
    public long running() {
        return running.get();
    }

    /** Sequences waiting for a slot. */
    public long waiting() {
        return waiting.get();
    }

    /** The metrics in Prometheus text format. */
    public String render() {
        StringBuilder b = new StringBuilder(4096);
        gauge(b, "grok1j_requests_running", "Sequences (choices) holding a slot in the decode batch.", running.get());
        gauge(b, "grok1j_requests_waiting", "Sequences (choices) waiting for a slot.", waiting.get());
        gauge(b, "grok1j_slots", "Parallel sequence slots (--parallel).", slots);
        counter(b, "grok1j_prompt_tokens_total", "Prompt tokens processed.", promptTokens.sum());
        counter(b, "grok1j_generation_tokens_total", "Tokens generated.", generationTokens.sum());
        b.append("# HELP grok1j_sequences_finished_total Sequences ended, by reason.\n");
        b.append("# TYPE grok1j_sequences_finished_total counter\n");
        b.append("grok1j_sequences_finished_total{reason=\"stop\"} ").append(finishedStop.sum()).append('\n');
        b.append("grok1j_sequences_finished_total{reason=\"length\"} ").append(finishedLength.sum()).append('\n');
        b.append("grok1j_sequences_finished_total{reason=\"cancelled\"} ").append(cancelled.sum()).append('\n');
        b.append("grok1j_sequences_finished_total{reason=\"error\"} ").append(failed.sum()).append('\n');
        counter(b, "grok1j_requests_rejected_total", "Requests refused because the queue was full (HTTP 429).", rejected.sum());
        counter(b, "grok1j_http_requests_total", "HTTP requests received.", httpRequests.sum());
        counter(b, "grok1j_batch_steps_total", "Forward passes run by the scheduler.", steps.sum());
        timeToFirstToken.render(b, "grok1j_time_to_first_token_seconds", "From request arrival to its first generated token.");
        interTokenLatency.render(b, "grok1j_inter_token_latency_seconds", "Between consecutive generated tokens of a sequence.");
        stepDuration.render(b, "grok1j_batch_step_duration_seconds", "Duration of one forward pass of the batch.");
        gauge(b, "grok1j_kv_cache_used_positions", "KV cache positions filled by running sequences.", kvCachePositionsUsed);
        gauge(b, "grok1j_kv_cache_capacity_positions", "KV cache positions the slots can hold (slots x context).", kvCachePositionsTotal);
        long total = kvCachePositionsTotal;
        b.append("# HELP grok1j_kv_cache_usage_ratio Used over capacity positions.\n# TYPE grok1j_kv_cache_usage_ratio gauge\n");
        b.append("grok1j_kv_cache_usage_ratio ").append(fmt(total == 0 ? 0 : (double) kvCachePositionsUsed / total)).append('\n');
        gauge(b, "grok1j_kv_cache_allocated_bytes", "Bytes of KV cache storage allocated by the slots.", kvCacheBytes);
        renderPrefixCache(b);
        return b.toString();
    }

    /** The prefix-cache block of {@link #render()} (all zero when the cache is off). */
    private void renderPrefixCache(StringBuilder b) {
        grok1j.model.PrefixCache pc = prefixCache;
        grok1j.model.PrefixCache.Stats st = pc == null ? new grok1j.model.PrefixCache.Stats() : pc.stats();
        counter(b, "grok1j_prompt_tokens_computed_total",
                "Prompt tokens run through the model (the rest came from the prefix cache).", promptTokensComputed.sum());
        counter(b, "grok1j_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", st.queriedTokens);
        counter(b, "grok1j_prefix_cache_hits_total", "Prompt tokens served by the prefix cache (cached tokens).", st.hitTokens);
        b.append("# HELP grok1j_prefix_cache_requests_total Prefix-cache lookups, by whether any block was found.\n");
        b.append("# TYPE grok1j_prefix_cache_requests_total counter\n");
        b.append("grok1j_prefix_cache_requests_total{result=\"hit\"} ").append(st.hits).append('\n');
        b.append("grok1j_prefix_cache_requests_total{result=\"miss\"} ").append(st.misses).append('\n');
        counter(b, "grok1j_prefix_cache_evictions_total", "Prefix-cache blocks evicted from RAM.", st.evictions);
        gauge(b, "grok1j_prefix_cache_blocks", "Prefix-cache blocks held in RAM.", st.blocks);
        gauge(b, "grok1j_prefix_cache_blocks_in_use", "Prefix-cache blocks pinned by running sequences.", st.blocksInUse);
        gauge(b, "grok1j_prefix_cache_bytes", "RAM held by prefix-cache blocks.", st.bytes);
        gauge(b, "grok1j_prefix_cache_budget_bytes", "RAM budget of the prefix cache (--cache-ram; 0: off).", st.budgetBytes);
        counter(b, "grok1j_prefix_cache_spill_writes_total", "Evicted blocks written to --cache-dir.", st.spillWrites);
        counter(b, "grok1j_prefix_cache_spill_reads_total", "Blocks read back from --cache-dir.", st.spillReads);
        counter(b, "grok1j_prefix_cache_spill_rejected_total",
                "Spill files ignored (bad checksum, another model or prefix).", st.spillRejected);
    }

    private static void gauge(StringBuilder b, String name, String help, long v) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" gauge\n");
        b.append(name).append(' ').append(v).append('\n');
    }

    private static void counter(StringBuilder b, String name, String help, long v) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" counter\n");
        b.append(name).append(' ').append(v).append('\n');
    }

    static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.6g", v);
    }

    /** A cumulative histogram with fixed upper bounds, in seconds. */
    static final class Histogram {
        private final double[] bounds;
        private final LongAdder[] counts;
        private final LongAdder count = new LongAdder();
        private final DoubleAdder sum = new DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds.clone();
            this.counts = new LongAdder[bounds.length];
            for (int i = 0; i < counts.length; i++) {
                counts[i] = new LongAdder();
            }
        }

        void observeNanos(long nanos) {
            observe(nanos / 1e9);
        }

        void observe(double seconds) {
            for (int i = 0; i < bounds.length; i++) {
                if (seconds <= bounds[i]) {
                    counts[i].increment();
                    break;
                }
            }
            count.increment();
            sum.add(seconds);
        }

        long count() {
            return count.sum();
        }

        void render(StringBuilder b, String name, String help) {
            b.append("# HELP ").append(name).append(' ').append(help).append('\n');
            b.append("# TYPE ").append(name).append(" histogram\n");
            long cum = 0;
            for (int i = 0; i < bounds.length; i++) {
                cum += counts[i].sum();
                b.append(name).append("_bucket{le=\"").append(fmt(bounds[i])).append("\"} ").append(cum).append('\n');
            }
            long n = Math.max(cum, count.sum()); // read apart from the buckets: keep +Inf >= every bucket
            b.append(name).append("_bucket{le=\"+Inf\"} ").append(n).append('\n');
            b.append(name).append("_sum ").append(fmt(sum.sum())).append('\n');
            b.append(name).append("_count ").append(n).append('\n');
        }
    }
}
