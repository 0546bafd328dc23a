package grok1j.server;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmCompilationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmNativeMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.JvmThreadsMetrics;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Function;
import grok1j.model.PrefixCache;

/**
 * The server's metrics, kept in a Prometheus client registry of their own (one per server) and rendered in the
 * Prometheus text exposition format (version 0.0.4) by {@link #render()}, together with the JVM's own metrics
 * ({@code jvm_*}, {@code process_*}). Names start with {@code grok1j_} and follow vLLM's {@code vllm:*} names where
 * vLLM has the same quantity, so its dashboards adapt by changing the prefix. Latencies are per sequence (one
 * choice of a request). Thread-safe.
 *
 * <p>The scheduler and the server update the fields directly ({@code metrics.promptTokens.add(n)},
 * {@code metrics.running.set(k)}, {@code metrics.timeToFirstToken.observeNanos(t)}...).
 */
public final class Metrics {
    /** Latency buckets in seconds: a tiny model answers in milliseconds, Grok-1 on CPU in minutes. */
    private static final double[] LATENCY_BUCKETS = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
            30, 60, 120, 300, 600};
    /** The throughput gauges average over this many whole seconds. */
    static final int THROUGHPUT_WINDOW_SECONDS = 10;

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    final Gauge running = gauge("grok1j_num_requests_running", "Sequences (choices) holding a slot in the decode batch.");
    final Gauge waiting = gauge("grok1j_num_requests_waiting", "Sequences (choices) waiting for a slot.");
    final Count promptTokens = counter("grok1j_prompt_tokens_total", "Prompt tokens of the sequences started.");
    final Count prefillTokens = counter("grok1j_prefill_tokens_total",
            "Prompt positions computed by forward passes (prompt tokens not served from a cache).");
    final Count generationTokens = counter("grok1j_generation_tokens_total", "Tokens generated.");
    final Count rejected = counter("grok1j_requests_rejected_total", "Requests refused because the queue was full (HTTP 429).");
    final Count httpRequests = counter("grok1j_http_requests_total", "HTTP requests received.");
    final Count steps = counter("grok1j_batch_steps_total", "Forward passes run by the scheduler.");
    // No exemplars: they would start the client library's scheduler thread, which outlives the server (SoakTest).
    private final Counter finished = Counter.builder().withoutExemplars().name("grok1j_sequences_finished_total")
            .help("Sequences ended, by reason.").labelNames("reason").register(registry);
    final Count finishedStop = new Count(finished.labelValues("stop"));
    final Count finishedLength = new Count(finished.labelValues("length"));
    final Count cancelled = new Count(finished.labelValues("cancelled"));
    final Count failed = new Count(finished.labelValues("error"));
    final Timer timeToFirstToken = histogram("grok1j_time_to_first_token_seconds",
            "From request arrival to the sequence's first generated token.");
    final Timer interTokenLatency = histogram("grok1j_inter_token_latency_seconds",
            "Between consecutive generated tokens of a sequence.");
    final Timer e2eLatency = histogram("grok1j_e2e_request_latency_seconds",
            "From request arrival to the sequence's end (stop or length).");
    final Timer queueTime = histogram("grok1j_request_queue_time_seconds",
            "From request arrival until the sequence got a slot.");
    final Timer prefillTime = histogram("grok1j_request_prefill_time_seconds",
            "From getting a slot to the first generated token: the prompt's prefill.");
    final Timer decodeTime = histogram("grok1j_request_decode_time_seconds",
            "From the first generated token to the sequence's end.");
    final Timer stepDuration = histogram("grok1j_batch_step_duration_seconds", "Duration of one forward pass of the batch.");
    private final Gauge modelLoad = gauge("grok1j_model_load_seconds",
            "Time it took to open the model (map or read the weights), 0 when the server was handed an open model.");
    private final Throughput prefillRate = new Throughput();
    private final Throughput decodeRate = new Throughput();
    volatile long kvCachePositionsUsed;
    volatile long kvCachePositionsTotal;
    volatile long kvCacheBytes;
    volatile int slots;
    /** The shared prefix cache, or null when it is off (its metrics then read 0). */
    volatile PrefixCache prefixCache;

    public Metrics() {
        callback("grok1j_slots", "Parallel sequence slots (--parallel).", () -> slots);
        callback("grok1j_kv_cache_used_positions", "KV cache positions filled by running sequences.", () -> kvCachePositionsUsed);
        callback("grok1j_kv_cache_capacity_positions", "KV cache positions the slots can hold (slots x context).",
                () -> kvCachePositionsTotal);
        callback("grok1j_kv_cache_usage_perc", "KV cache use, used over capacity positions, from 0 to 1 (vLLM's name).",
                () -> {
                    long total = kvCachePositionsTotal;
                    return total == 0 ? 0 : (double) kvCachePositionsUsed / total;
                });
        callback("grok1j_kv_cache_allocated_bytes", "Bytes of KV cache storage allocated by the slots.", () -> kvCacheBytes);
        callback("grok1j_avg_prompt_throughput_toks_per_s", "Prompt positions prefilled per second over the last "
                + THROUGHPUT_WINDOW_SECONDS + " s of wall time.", () -> prefillRate.perSecond(System.nanoTime()));
        callback("grok1j_avg_generation_throughput_toks_per_s", "Tokens generated per second over the last "
                + THROUGHPUT_WINDOW_SECONDS + " s of wall time.", () -> decodeRate.perSecond(System.nanoTime()));
        registerPrefixCache();
        // The JVM's metrics: JvmMetrics' set without the memory-pool allocation counters, which are incremented from GC
        // notifications with exemplars and so start the client library's scheduler thread (it outlives the server).
        JvmThreadsMetrics.builder().register(registry);
        JvmBufferPoolMetrics.builder().register(registry);
        JvmClassLoadingMetrics.builder().register(registry);
        JvmCompilationMetrics.builder().register(registry);
        JvmGarbageCollectorMetrics.builder().register(registry);
        JvmMemoryMetrics.builder().register(registry);
        JvmNativeMemoryMetrics.builder().register(registry);
        JvmRuntimeInfoMetric.builder().register(registry);
        ProcessMetrics.builder().register(registry);
    }

    /** The prefix cache's metrics, read from {@link PrefixCache#stats()} at each scrape (names after vLLM's). */
    private void registerPrefixCache() {
        cacheCounter("grok1j_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", s -> s.queriedTokens);
        cacheCounter("grok1j_prefix_cache_hits_total", "Prompt tokens served by the prefix cache (cached tokens).",
                s -> s.hitTokens);
        CounterWithCallback.builder().name("grok1j_prefix_cache_requests_total")
                .help("Prefix-cache lookups, by whether any block was found.").labelNames("result")
                .callback(cb -> {
                    PrefixCache.Stats st = prefixCacheStats();
                    cb.call(st.hits, "hit");
                    cb.call(st.misses, "miss");
                }).register(registry);
        cacheCounter("grok1j_prefix_cache_evictions_total", "Prefix-cache blocks evicted from RAM.", s -> s.evictions);
        callback("grok1j_prefix_cache_blocks", "Prefix-cache blocks held in RAM.", () -> prefixCacheStats().blocks);
        callback("grok1j_prefix_cache_blocks_in_use", "Prefix-cache blocks pinned by running sequences.",
                () -> prefixCacheStats().blocksInUse);
        callback("grok1j_prefix_cache_bytes", "RAM held by prefix-cache blocks.", () -> prefixCacheStats().bytes);
        callback("grok1j_prefix_cache_budget_bytes", "RAM budget of the prefix cache (--cache-ram; 0: off).",
                () -> prefixCacheStats().budgetBytes);
        cacheCounter("grok1j_prefix_cache_spill_writes_total", "Evicted blocks written to --cache-dir.", s -> s.spillWrites);
        cacheCounter("grok1j_prefix_cache_spill_reads_total", "Blocks read back from --cache-dir.", s -> s.spillReads);
        cacheCounter("grok1j_prefix_cache_spill_rejected_total",
                "Spill files ignored (bad checksum, another model or prefix).", s -> s.spillRejected);
    }

    private PrefixCache.Stats prefixCacheStats() {
        PrefixCache pc = prefixCache;
        return pc == null ? new PrefixCache.Stats() : pc.stats();
    }

    private void cacheCounter(String name, String help, Function<PrefixCache.Stats, Long> value) {
        CounterWithCallback.builder().name(name).help(help)
                .callback(cb -> cb.call(value.apply(prefixCacheStats()))).register(registry);
    }

    /** Sequences currently holding a slot in the batch. */
    public long running() {
        return (long) running.get();
    }

    /** Sequences waiting for a slot. */
    public long waiting() {
        return (long) waiting.get();
    }

    /** Records how long opening the model took ({@code grok1j_model_load_seconds}). */
    public void modelLoaded(Duration d) {
        modelLoad.set(d.toNanos() / 1e9);
    }

    /**
     * Records one forward pass that ended at {@code nowNanos} ({@link System#nanoTime()}): how many prompt positions it
     * prefilled and how many tokens it generated, for the throughput gauges and {@code grok1j_prefill_tokens_total}.
     * (Generated tokens are counted in {@link #generationTokens} by the caller.)
     */
    void stepDone(long nowNanos, int prefilled, int generated) {
        prefillTokens.add(prefilled);
        prefillRate.add(nowNanos, prefilled);
        decodeRate.add(nowNanos, generated);
    }

    /** The metrics and the JVM's, in Prometheus text format (version 0.0.4). */
    public String render() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not throw
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The media type of {@link #render()}. */
    public static String contentType() {
        return PrometheusTextFormatWriter.CONTENT_TYPE;
    }

    /** A number for error messages: integers without a fraction, others with 6 significant digits. */
    static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.6g", v);
    }

    private Gauge gauge(String name, String help) {
        return Gauge.builder().withoutExemplars().name(name).help(help).register(registry);
    }

    private Count counter(String name, String help) {
        return new Count(Counter.builder().withoutExemplars().name(name).help(help).register(registry));
    }

    private Timer histogram(String name, String help) {
        return new Timer(Histogram.builder().withoutExemplars().name(name).help(help).classicOnly()
                .classicUpperBounds(LATENCY_BUCKETS).register(registry));
    }

    private void callback(String name, String help, java.util.function.DoubleSupplier value) {
        GaugeWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.getAsDouble())).register(registry);
    }

    /** A counter (or one labelled series of it) with the increments the scheduler uses. */
    static final class Count {
        private final CounterDataPoint c;

        Count(CounterDataPoint c) {
            this.c = c;
        }

        void increment() {
            c.inc();
        }

        void add(long n) {
            c.inc(n);
        }

        long sum() {
            return (long) c.get();
        }
    }

    /** A histogram of durations in seconds. */
    static final class Timer {
        private final DistributionDataPoint h;

        Timer(DistributionDataPoint h) {
            this.h = h;
        }

        void observeNanos(long nanos) {
            h.observe(nanos / 1e9);
        }
    }

    /**
     * Tokens per second over the last {@link #THROUGHPUT_WINDOW_SECONDS} whole seconds (the second in progress is left
     * out, so the figure lags by up to a second): one slot per second of {@link System#nanoTime()}.
     */
    static final class Throughput {
        private final long[] second = new long[THROUGHPUT_WINDOW_SECONDS + 1];
        private final long[] tokens = new long[THROUGHPUT_WINDOW_SECONDS + 1];

        synchronized void add(long nowNanos, long n) {
            long s = Math.floorDiv(nowNanos, 1_000_000_000L);
            int i = (int) Math.floorMod(s, (long) second.length);
            if (second[i] != s) {
                second[i] = s;
                tokens[i] = 0;
            }
            tokens[i] += n;
        }

        synchronized double perSecond(long nowNanos) {
            long s = Math.floorDiv(nowNanos, 1_000_000_000L);
            long sum = 0;
            for (int i = 0; i < second.length; i++) {
                if (second[i] < s && second[i] >= s - THROUGHPUT_WINDOW_SECONDS) {
                    sum += tokens[i];
                }
            }
            return (double) sum / THROUGHPUT_WINDOW_SECONDS;
        }
    }
}
