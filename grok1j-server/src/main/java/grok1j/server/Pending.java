package grok1j.server;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A submitted request's events as its handler takes them. While none comes (a long prefill, a wait in the queue) it
 * runs the handler's keep-alive action after every {@code keepAlive} of silence, so clients' read timeouts measure
 * silence, not work.
 */
final class Pending {
    /** What a handler writes to show it is alive: an SSE comment, or a space before the JSON. */
    interface KeepAlive {
        void send() throws IOException;
    }

    private final Scheduler scheduler;
    private final Scheduler.Request request;
    private final long keepAliveNanos;
    private final long holdUntil;
    private KeepAlive keepAlive;
    private long lastSent = System.nanoTime();

    /**
     * @param hold for tests: events are held back this long after submission, as a very long prefill would hold them
     */
    Pending(Scheduler scheduler, Scheduler.Request request, Duration keepAlive, Duration hold) {
        this.scheduler = scheduler;
        this.request = request;
        this.keepAliveNanos = keepAlive.toNanos();
        this.holdUntil = lastSent + hold.toNanos();
    }

    void keepAlive(KeepAlive action) {
        this.keepAlive = action;
    }

    /** Cancels the request: its sequences leave at the next step. */
    void cancel() {
        scheduler.cancel(request);
    }

    /** The handler wrote something: silence starts again. */
    void sent() {
        lastSent = System.nanoTime();
    }

    /**
     * The next event; runs the keep-alive action during silences; fails rather than waiting forever if the
     * scheduler thread is gone.
     *
     * @throws IOException when the keep-alive write fails (the client went away)
     */
    Scheduler.Event next() throws InterruptedException, IOException {
        while (true) {
            long now = System.nanoTime();
            long untilBeat = keepAlive == null ? TimeUnit.SECONDS.toNanos(1) : lastSent + keepAliveNanos - now;
            long wait = Math.clamp(Math.min(untilBeat, TimeUnit.SECONDS.toNanos(1)), 0, Long.MAX_VALUE);
            Scheduler.Event ev = null;
            if (now - holdUntil >= 0) {
                ev = request.events.poll(wait, TimeUnit.NANOSECONDS);
            } else {
                TimeUnit.NANOSECONDS.sleep(Math.min(wait, holdUntil - now));
            }
            if (ev != null) {
                return ev;
            }
            if (keepAlive != null && System.nanoTime() - lastSent >= keepAliveNanos) {
                keepAlive.send();
                sent();
            }
            if (!scheduler.alive()) {
                ev = request.events.poll();
                if (ev != null) {
                    return ev;
                }
                throw new ApiException(503, "server_error", null, "shutting_down", "the scheduler has stopped");
            }
        }
    }
}
