package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.generate.FinishReason;
import grok1j.generate.GenerationResult;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One {@code /v1/responses} call in flight: the scheduler's events as one Responses object, or as the Responses
 * stream ({@code response.created}, {@code response.in_progress}, {@code response.output_item.added}, {@code
 * response.content_part.added}, {@code response.output_text.delta}..., {@code response.output_text.done}, {@code
 * response.content_part.done}, {@code response.output_item.done}, then {@code response.completed} or, at
 * {@code max_output_tokens}, {@code response.incomplete}).
 */
final class ResponsesCall {
    private final OpenAiServer server;
    private final ObjectMapper mapper;
    private final JsonNode request;
    private final RequestParser.Parsed parsed;
    private final String model;
    private final String id = "resp_" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
    private final String messageId = "msg_" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
    private final long createdAt = System.currentTimeMillis() / 1000;
    private int sequence;

    ResponsesCall(OpenAiServer server, ObjectMapper mapper, JsonNode request, RequestParser.Parsed parsed, String model) {
        this.server = server;
        this.mapper = mapper;
        this.request = request;
        this.parsed = parsed;
        this.model = model;
    }

    void respond(Exchange ex, Pending pending) throws IOException, InterruptedException {
        OpenAiServer.keepJsonAlive(ex, pending);
        GenerationResult result = null;
        while (result == null) {
            Scheduler.Event ev;
            try {
                ev = pending.next();
            } catch (ApiException x) {
                server.finishJson(ex, x.status(), server.errorBody(x));
                return;
            }
            switch (ev) {
                case Scheduler.DoneEvent d -> result = d.result();
                case Scheduler.FailedEvent f -> {
                    server.finishJson(ex, f.error().status(), server.errorBody(f.error()));
                    return;
                }
                case Scheduler.PromptEvent pe -> {
                }
                case Scheduler.TokenEvent t -> {
                }
            }
        }
        server.finishJson(ex, 200, response(status(result), result.text(), usage(result)));
    }

    void stream(Exchange ex, Pending pending) throws IOException, InterruptedException {
        OutputStream out = OpenAiServer.startEvents(ex, pending);
        ObjectNode started = response("in_progress", null, null);
        event(out, pending, "response.created", fields().set("response", started));
        event(out, pending, "response.in_progress", fields().set("response", started));
        event(out, pending, "response.output_item.added", fields().put("output_index", 0)
                .set("item", ResponsesApi.message(mapper, messageId, "in_progress", null)));
        event(out, pending, "response.content_part.added", part().set("part", ResponsesApi.textPart(mapper, "")));
        GenerationResult result = null;
        while (result == null) {
            Scheduler.Event ev;
            try {
                ev = pending.next();
            } catch (ApiException x) {
                error(out, pending, x);
                return;
            }
            switch (ev) {
                case Scheduler.TokenEvent t -> {
                    if (!t.text().isEmpty()) {
                        ObjectNode d = part().put("delta", t.text());
                        d.putArray("logprobs");
                        event(out, pending, "response.output_text.delta", d);
                    }
                }
                case Scheduler.DoneEvent d -> result = d.result();
                case Scheduler.FailedEvent f -> {
                    error(out, pending, f.error());
                    return;
                }
                case Scheduler.PromptEvent pe -> {
                }
            }
        }
        String text = result.text();
        ObjectNode done = part().put("text", text);
        done.putArray("logprobs");
        event(out, pending, "response.output_text.done", done);
        event(out, pending, "response.content_part.done", part().set("part", ResponsesApi.textPart(mapper, text)));
        String status = status(result);
        event(out, pending, "response.output_item.done", fields().put("output_index", 0)
                .set("item", ResponsesApi.message(mapper, messageId, status, text)));
        event(out, pending, status.equals("completed") ? "response.completed" : "response.incomplete",
                fields().set("response", response(status, text, usage(result))));
    }

    private static String status(GenerationResult r) {
        return r.finishReason() == FinishReason.LENGTH ? "incomplete" : "completed";
    }

    private ObjectNode usage(GenerationResult r) {
        return ResponsesApi.usage(mapper, parsed.prompts().getFirst().length, r.promptTokensReused(), r.ids().length);
    }

    private ObjectNode response(String status, String text, ObjectNode usage) {
        return ResponsesApi.response(mapper, request, id, messageId, createdAt, model, status, text, usage);
    }

    private ObjectNode fields() {
        return mapper.createObjectNode();
    }

    /** The fields that place a content part: item, output and content index. */
    private ObjectNode part() {
        return fields().put("item_id", messageId).put("output_index", 0).put("content_index", 0);
    }

    private void error(OutputStream out, Pending pending, ApiException e) throws IOException {
        pending.cancel();
        ObjectNode o = fields().put("code", e.code() == null ? e.type() : e.code()).put("message", e.getMessage());
        o.put("param", e.param());
        event(out, pending, "error", o);
    }

    /** {@code event: type} and {@code data: {"type", "sequence_number", ...fields}}. */
    private void event(OutputStream out, Pending pending, String type, JsonNode fields) throws IOException {
        ObjectNode o = mapper.createObjectNode();
        o.put("type", type);
        o.put("sequence_number", sequence++);
        o.setAll((ObjectNode) fields);
        out.write(("event: " + type + "\ndata: ").getBytes(StandardCharsets.US_ASCII));
        out.write(mapper.writeValueAsBytes(o));
        out.write("\n\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        pending.sent();
    }
}
