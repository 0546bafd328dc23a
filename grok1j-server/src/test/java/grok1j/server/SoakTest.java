package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A bounded soak (issue 15): clients on virtual threads send a fixed, seeded mix of streaming and non-streaming
 * completions and chats, hang up mid-stream or before the answer, and send invalid requests, all at once against one
 * server on a loopback port. Every answer that completes must equal the same request sent alone (greedy), and
 * afterwards nothing runs or waits, the KV cache is empty, the heap is back within a bound, and closing the server
 * leaves no thread behind. Tagged {@code soak}: {@code bin/test} (mvn verify) runs it in a JVM of its own after the
 * unit tests.
 */
@Tag("soak")
@Timeout(240)
class SoakTest {
    static final int CLIENTS = 8;
    static final int OPERATIONS_PER_CLIENT = 12;
    static final long HEAP_SLACK_BYTES = 64L << 20;
    static final String[] PROMPTS = {"Hello", "The quick brown fox", "Once upon a time there was",
            "The answer to life the universe and everything is of course"};

    /** The greedy requests whose answers are checked, by body. */
    static List<String> checkedRequests() {
        List<String> all = new ArrayList<>();
        for (String p : PROMPTS) {
            for (int max : new int[] {6, 12}) {
                all.add("{\"prompt\": \"" + p + "\", \"max_tokens\": " + max + ", \"temperature\": 0}");
            }
        }
        all.add("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 8, \"temperature\": 0}");
        all.add("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": "
                + "\"What is up?\"}], \"max_tokens\": 10, \"temperature\": 0}");
        return all;
    }

    static final String[] INVALID = {"{not json", "{\"prompt\": \"x\", \"max_tokens\": 2} trailing",
            "{\"prompt\": \"x\", \"temperature\": \"hot\"}", "{\"prompt\": \"x\", \"max_tokens\": 9000}", "[1, 2]",
            "{\"prompt\": \"\"}", "{\"prompt\": [131072]}"};

    static boolean chat(String body) {
        return body.startsWith("{\"messages\"");
    }

    static String path(String body) {
        return chat(body) ? "/v1/chat/completions" : "/v1/completions";
    }

    static String text(JsonNode answer) {
        JsonNode c = answer.get("choices").get(0);
        return c.has("message") ? c.get("message").get("content").asText() : c.get("text").asText();
    }

    static String streamed(String sseBody) {
        StringBuilder sb = new StringBuilder();
        for (JsonNode chunk : TestModel.chunks(sseBody)) {
            assertTrue(!chunk.has("error"), chunk::toString);
            JsonNode c = chunk.get("choices").get(0);
            JsonNode piece = c.has("delta") ? c.get("delta").get("content") : c.get("text");
            if (piece != null && !piece.isNull()) {
                sb.append(piece.asText());
            }
        }
        return sb.toString();
    }

    static String withStream(String body) {
        return body.substring(0, body.length() - 1) + ", \"stream\": true}";
    }

    @Test
    void mixedClientsLeaveNothingBehind() throws Exception {
        TestModel.model(); // loaded and warmed before the baselines
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        Set<Long> threadsBefore = new HashSet<>();
        Thread.getAllStackTraces().keySet().forEach(t -> threadsBefore.add(t.threadId()));
        OpenAiServer server = TestModel.start(ServerConfig.defaults().withParallel(4).withQueue(64));
        Map<String, String> reference = new ConcurrentHashMap<>();
        AtomicInteger checked = new AtomicInteger();
        AtomicInteger hungUp = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        long heapBefore;
        try {
            for (String body : checkedRequests()) { // each alone: the reference
                TestModel.Response r = TestModel.post(server, path(body), body);
                assertEquals(200, r.status(), r.body());
                reference.put(body, text(r.json()));
            }
            heapBefore = usedHeapAfterGc(memory);

            List<String> bodies = checkedRequests();
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> done = new ArrayList<>();
                for (int c = 0; c < CLIENTS; c++) {
                    Random random = new Random(1234 + c);
                    done.add(clients.submit(() -> {
                        for (int op = 0; op < OPERATIONS_PER_CLIENT; op++) {
                            String body = bodies.get(random.nextInt(bodies.size()));
                            switch (random.nextInt(6)) {
                                case 0, 1 -> { // non-streaming, checked
                                    TestModel.Response r = TestModel.post(server, path(body), body);
                                    assertEquals(200, r.status(), r.body());
                                    assertEquals(reference.get(body), text(r.json()), body);
                                    checked.incrementAndGet();
                                }
                                case 2 -> { // streaming, checked
                                    TestModel.Response r = TestModel.post(server, path(body), withStream(body));
                                    assertEquals(200, r.status(), r.body());
                                    assertEquals(reference.get(body), streamed(r.body()), body);
                                    checked.incrementAndGet();
                                }
                                case 3 -> { // a stream the client hangs up on after 0-2 events
                                    try (SseSocket s = new SseSocket(server, path(body), withStream(body))) {
                                        s.statusLine();
                                        for (int k = random.nextInt(3); k > 0 && s.nextData() != null; k--) {
                                        }
                                    }
                                    hungUp.incrementAndGet();
                                }
                                case 4 -> { // a non-streaming request the client gives up on before the answer
                                    hangUpBeforeAnswer(server, path(body), body, random.nextInt(50));
                                    hungUp.incrementAndGet();
                                }
                                default -> { // invalid
                                    String bad = INVALID[random.nextInt(INVALID.length)];
                                    TestModel.Response r = TestModel.post(server, "/v1/completions", bad);
                                    assertEquals(400, r.status(), bad + " -> " + r.body());
                                    assertTrue(r.json().get("error").has("message"), r.body());
                                    refused.incrementAndGet();
                                }
                            }
                        }
                        return null;
                    }));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
                for (Future<?> f : done) {
                    try {
                        f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    } catch (java.util.concurrent.TimeoutException e) {
                        // say where everything waits (a stuck client, the scheduler, the HTTP layer)
                        Thread.getAllStackTraces().forEach((t, stack) -> System.out.println(t + "\n    "
                                + String.join("\n    ", java.util.Arrays.stream(stack).map(String::valueOf).toList())));
                        System.out.println(TestModel.get(server, "/metrics").body());
                        throw e;
                    }
                }
            }
            System.out.printf("SoakTest: %d answers checked, %d hang-ups, %d invalid requests refused%n", checked.get(),
                    hungUp.get(), refused.get());
            assertTrue(checked.get() > 0 && hungUp.get() > 0 && refused.get() > 0);

            assertEquals(0, TestModel.awaitMetric(server, "grok1j_num_requests_running", 0, Duration.ofSeconds(60)));
            assertEquals(0, TestModel.awaitMetric(server, "grok1j_num_requests_waiting", 0, Duration.ofSeconds(10)));
            assertEquals(0, TestModel.awaitMetric(server, "grok1j_kv_cache_used_positions", 0, Duration.ofSeconds(10)));
            assertTrue(server.awaitIdle(Duration.ofSeconds(10)));
            assertEquals(200, TestModel.get(server, "/health").status());
            long heapAfter = usedHeapAfterGc(memory);
            assertTrue(heapAfter <= heapBefore + HEAP_SLACK_BYTES, "heap grew from " + (heapBefore >> 20) + " MiB to "
                    + (heapAfter >> 20) + " MiB");
        } finally {
            server.close();
        }
        // no thread of the server (HTTP, scheduler) outlives it; the test's own clients (the JDK's HttpClient, the
        // virtual threads' carriers and pollers, JUnit's timeout watcher) keep theirs
        long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        List<String> leaked;
        while (!(leaked = newThreads(threadsBefore)).isEmpty() && System.nanoTime() < end) {
            Thread.sleep(100);
        }
        assertEquals(List.of(), leaked, "threads left after closing the server");
    }

    private static final List<String> CLIENT_SIDE = List.of("HttpClient-", "ForkJoinPool", "MasterPoller",
            "VirtualThread-", "Read-Poller", "Write-Poller", "junit-", "process reaper");

    /** Names of live platform threads that did not exist in {@code before} and are not the test clients'. */
    private static List<String> newThreads(Set<Long> before) {
        List<String> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (!before.contains(t.threadId()) && t.isAlive()
                    && CLIENT_SIDE.stream().noneMatch(p -> t.getName().startsWith(p))) {
                out.add(t.getName());
            }
        }
        return out;
    }

    /** Sends a request on a raw socket and closes it after {@code millis}, without reading the answer. */
    private static void hangUpBeforeAnswer(OpenAiServer server, String path, String json, int millis) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            byte[] body = json.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long usedHeapAfterGc(MemoryMXBean memory) throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }
}
