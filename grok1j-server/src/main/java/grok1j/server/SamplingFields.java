package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import grok1j.generate.LogitsProcessing;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The request fields that adjust logits ({@code logit_bias}, {@code presence_penalty}, {@code frequency_penalty},
 * {@code repetition_penalty}), and the output-changing fields that are refused rather than ignored
 * ({@code suffix}, {@code best_of} other than {@code n}).
 */
final class SamplingFields {
    private SamplingFields() {
    }

    /**
     * @param vocab token ids in {@code logit_bias} must be below it
     * @param n     choices asked for ({@code best_of} equal to it changes nothing)
     * @throws ApiException 400 naming the field
     */
    static LogitsProcessing processing(JsonNode body, int vocab, int n) {
        refuseUnsupported(body, n);
        double presence = RequestParser.number(body, "presence_penalty", -2, 2, 0);
        double frequency = RequestParser.number(body, "frequency_penalty", -2, 2, 0);
        JsonNode rp = RequestParser.present(body, "repetition_penalty");
        if (rp != null && !(rp.isNumber() && rp.asDouble() > 0 && rp.asDouble() <= 10)) {
            throw ApiException.invalid("repetition_penalty", "repetition_penalty must be a number in (0, 10], got " + rp);
        }
        double repetition = rp == null ? 1 : rp.asDouble();
        return new LogitsProcessing(logitBias(body, vocab), presence, frequency, repetition, null);
    }

    /** OpenAI's {@code logit_bias}: an object from token ids (as strings) to biases in [-100, 100]. */
    private static Map<Integer, Float> logitBias(JsonNode body, int vocab) {
        JsonNode lb = RequestParser.present(body, "logit_bias");
        if (lb == null) {
            return Map.of();
        }
        if (!lb.isObject()) {
            throw ApiException.invalid("logit_bias", "logit_bias must be an object from token ids to biases in [-100, 100]");
        }
        Map<Integer, Float> bias = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = lb.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException x) {
                throw ApiException.invalid("logit_bias", "logit_bias keys must be token ids, got \"" + e.getKey() + "\"");
            }
            if (id < 0 || id >= vocab) {
                throw ApiException.invalid("logit_bias", "logit_bias: token " + id + " is outside [0, " + vocab + ")");
            }
            JsonNode v = e.getValue();
            if (!v.isNumber() || !(v.asDouble() >= -100 && v.asDouble() <= 100)) {
                throw ApiException.invalid("logit_bias", "logit_bias values must be numbers in [-100, 100], got " + v + " for token " + id);
            }
            bias.put(id, (float) v.asDouble());
        }
        return bias;
    }

    private static void refuseUnsupported(JsonNode body, int n) {
        JsonNode suffix = RequestParser.present(body, "suffix");
        if (suffix != null && !(suffix.isTextual() && suffix.asText().isEmpty())) {
            throw ApiException.invalid("suffix", "suffix (fill-in-the-middle) is not supported: Grok-1 has no infill format");
        }
        JsonNode bestOf = RequestParser.present(body, "best_of");
        if (bestOf != null && !(bestOf.isIntegralNumber() && (bestOf.asInt() == n || bestOf.asInt() == 1 && n == 1))) {
            throw ApiException.invalid("best_of", "best_of is not supported (only best_of equal to n, which changes nothing); "
                    + "ask for n choices with logprobs and pick among them");
        }
    }
}
