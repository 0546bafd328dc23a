package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code grok1j serve} in its own JVM: SIGTERM lets the request in flight finish, then the process exits with status 0
 * (not the JVM's 143) after one "shutting down" line.
 */
@Timeout(240)
class ServeSignalTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void sigtermFinishesTheRunningRequestAndExitsZero() throws Exception {
        Path tiny = Path.of(System.getProperty("grok1j.shared", "../../shared")).toAbsolutePath().normalize()
                .resolve("fixtures/grok-1-tiny");
        try (MpiCli.Job job = MpiCli.Job.start(MpiCli.cli("serve", "--model", tiny.toString(), "--host", "127.0.0.1",
                "--port", "0", "--warmup", "0", "--threads", "1", "--shutdown-grace", "60"))) {
            Pattern serving = Pattern.compile("grok1j: serving '[^']*' \\(.*\\) on http://127\\.0\\.0\\.1:(\\d+)");
            MpiCli.await(job, Duration.ofSeconds(120), "'serving' line", () -> serving.matcher(job.stderr()).find());
            Matcher m = serving.matcher(job.stderr());
            assertTrue(m.find());
            int port = Integer.parseInt(m.group(1));

            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setSoTimeout(120_000);
                byte[] body = "{\"prompt\": \"Hello\", \"max_tokens\": 48, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true}"
                        .getBytes(StandardCharsets.UTF_8);
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                List<String> data = new ArrayList<>();
                String line;
                while ((line = in.readLine()) != null && data.isEmpty()) {
                    if (line.startsWith("data: ")) {
                        data.add(line.substring(6));
                    }
                }
                job.process.destroy(); // SIGTERM, mid-stream
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("data: ")) {
                        data.add(line.substring(6));
                    }
                }
                assertEquals("[DONE]", data.getLast(), data::toString);
                JsonNode last = JSON.readTree(data.get(data.size() - 2));
                assertEquals("length", last.get("choices").get(0).get("finish_reason").asText(), last::toString);
            }
            MpiCli.Finished r = job.await(Duration.ofSeconds(90));
            assertEquals(0, r.status(), r::toString);
            List<String> lines = MpiCli.rankLines(r.stderr());
            assertEquals("grok1j: shutting down", lines.getLast(), r::toString);
            assertEquals(1, lines.stream().filter(l -> l.equals("grok1j: shutting down")).count(), r::toString);
        }
    }
}
