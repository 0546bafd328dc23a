package grok1j.cli;

import static grok1j.cli.MpiCli.JOB;
import static grok1j.cli.MpiCli.assertJsonClose;
import static grok1j.cli.MpiCli.mpirun;
import static grok1j.cli.MpiCli.rankLines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import grok1j.model.Model;
import grok1j.server.OpenAiServer;
import grok1j.server.ServerConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code grok1j serve} tensor-parallel under a real {@code mpirun} (spec distributed.md §4.2; issue 9): a completion
 * equal to the single-process server's, and SIGTERM to rank 0 ends the job as it ends one process. Skipped, with the reason printed,
 * where Open MPI is not installed.
 */
class TensorParallelServeTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    static final String REQUEST = "{\"model\": \"grok-1-tiny\", \"prompt\": \"The answer to life the universe and "
            + "everything is of course\", \"max_tokens\": 8, \"temperature\": 0, \"logprobs\": 3}";

    @Test
    void aCompletionEqualsTheSingleProcessOneAndSigtermEndsTheJob() throws Exception {
        MpiCli.assumeOpenMpi("TensorParallelServeTest");
        Path tiny = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize()
                .resolve("fixtures/grok-1-tiny");

        JsonNode want;
        try (Model model = Model.open(tiny);
             OpenAiServer single = OpenAiServer.start(ServerConfig.defaults().withHost("127.0.0.1").withPort(0)
                     .withModelId("grok-1-tiny"), model)) {
            want = complete(single.baseUrl());
        }

        long t0 = System.nanoTime();
        try (MpiCli.Job job = MpiCli.Job.start(mpirun(2, List.of(), "serve", "--model", tiny.toString(),
                "--host", "127.0.0.1", "--port", "0", "--warmup", "0"))) {
            Pattern listening = Pattern.compile("grok1j: listening on (http://\\S+) ");
            MpiCli.await(job, JOB, "'listening on' line", () -> listening.matcher(job.stderr()).find());
            Matcher m = listening.matcher(job.stderr());
            assertTrue(m.find());
            String url = m.group(1);
            MpiCli.await(job, JOB, "/health 200", () -> health(url) == 200);
            long ready = System.nanoTime();
            JsonNode got = complete(url);
            long answered = System.nanoTime();

            assertEquals(want.get("choices").get(0).get("text"), got.get("choices").get(0).get("text"), got::toString);
            assertEquals(want.get("choices").get(0).get("logprobs").get("tokens"),
                    got.get("choices").get(0).get("logprobs").get("tokens"), got::toString);
            assertJsonClose(want.get("choices"), got.get("choices"), 1e-5, "choices");
            assertEquals(want.get("usage"), got.get("usage"));

            // SIGTERM to rank 0, as to a single-process server: it stops serving and closes the model, which ends the
            // other ranks; the job exits with rank 0's status, 0 (a graceful shutdown) as one process does. (SIGTERM to
            // mpirun makes Open MPI 4 end the ranks itself: it kills them after a moment and exits 1.)
            List<ProcessHandle> ranks = job.process.descendants().toList();
            job.rankProcess(0).orElseThrow(() -> new AssertionError("no rank 0 java: " + job)).destroy();
            MpiCli.Finished r = job.await(Duration.ofSeconds(60));
            System.out.printf("TensorParallelServeTest: ready after %d ms, completion %d ms, stopped after %d ms%n",
                    (ready - t0) / 1_000_000, (answered - ready) / 1_000_000,
                    r.elapsed().toMillis() - (answered - t0) / 1_000_000);
            assertEquals(0, r.status(), r::toString);
            assertEquals(List.of("grok1j: shutting down"), rankLines(r.stderr()).subList(2, rankLines(r.stderr()).size()),
                    r::toString); // after 'listening on' and 'serving': no failure, no stack trace
            assertFalse(ranks.stream().anyMatch(h -> h.isAlive() && !zombie(h)), () -> "a rank outlived mpirun: " + ranks);
        }
    }

    /** A process that has exited but is not reaped yet (its parent, mpirun, is gone). */
    private static boolean zombie(ProcessHandle h) {
        try {
            String stat = java.nio.file.Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (java.io.IOException e) {
            return true; // gone
        }
    }

    private static JsonNode complete(String baseUrl) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions"))
                .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(REQUEST)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    private static int health(String baseUrl) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(baseUrl + "/health")).timeout(Duration.ofSeconds(10))
                    .GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (Exception e) {
            return -1;
        }
    }
}
