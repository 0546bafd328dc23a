package grok1j.cli;

import grok1j.generate.SamplingParams;
import grok1j.generate.Sequence;
import grok1j.model.KvCache;
import grok1j.model.Model;
import grok1j.model.ModelFingerprint;
import grok1j.model.PrefixCache;
import grok1j.model.Transformer;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * {@code grok1j bench --chat-turns N}: time to first token of an N-turn chat, each turn resending the whole
 * conversation (a system prompt, then per turn a user message and the model's greedy answer), once cold (every turn
 * prefills everything) and once through a {@link PrefixCache} (a turn prefills what the cache does not hold). Both
 * runs must produce the same answers; the report says whether they did. Not a test: timings on a shared machine are
 * noisy, so the load average is printed beside them.
 */
final class ChatBench {
    private ChatBench() {
    }

    /** Per turn: prompt tokens, cached tokens, time to first token (ns), the answer. */
    private record Turn(int prompt, int cached, long ttftNanos, int[] answer) {
    }

    static int run(Model model, int turns, int systemTokens, int userTokens, int answerTokens, PrintStream out)
            throws IOException {
        Transformer net = model.network();
        Random rnd = new Random(42);
        int vocab = model.config().vocabSize();
        int[] system = rnd.ints(systemTokens, 1000, Math.min(vocab, 30000)).toArray();
        List<int[]> users = new ArrayList<>();
        for (int i = 0; i < turns; i++) {
            users.add(rnd.ints(userTokens, 1000, Math.min(vocab, 30000)).toArray());
        }
        double load0 = loadavg();
        List<Turn> cold = chat(net, model, system, users, answerTokens, null);
        PrefixCache pc = new PrefixCache(net, 1L << 40, null, ModelFingerprint.of(net.weights()));
        List<Turn> warm = chat(net, model, system, users, answerTokens, pc);
        out.printf("multi-turn chat: %d turns, system prompt %d tokens, %d user tokens and %d answer tokens per turn%n",
                turns, systemTokens, userTokens, answerTokens);
        out.printf("%5s %8s %8s %14s %14s %7s%n", "turn", "prompt", "cached", "TTFT cold ms", "TTFT cache ms", "ratio");
        long sumCold = 0, sumWarm = 0;
        boolean same = true;
        for (int i = 0; i < turns; i++) {
            Turn c = cold.get(i), w = warm.get(i);
            sumCold += c.ttftNanos();
            sumWarm += w.ttftNanos();
            same &= Arrays.equals(c.answer(), w.answer());
            out.printf("%5d %8d %8d %14.1f %14.1f %7.2f%n", i + 1, c.prompt(), w.cached(), c.ttftNanos() / 1e6,
                    w.ttftNanos() / 1e6, (double) c.ttftNanos() / w.ttftNanos());
        }
        out.printf("total TTFT: cold %.1f ms, with the prefix cache %.1f ms (%.2fx); answers identical: %s%n",
                sumCold / 1e6, sumWarm / 1e6, (double) sumCold / sumWarm, same ? "yes" : "NO");
        out.printf("load average: %.2f at start, %.2f at end (noisy on a shared machine)%n", load0, loadavg());
        return same ? 0 : 1;
    }

    private static List<Turn> chat(Transformer net, Model model, int[] system, List<int[]> users, int answerTokens,
                                   PrefixCache pc) {
        List<Turn> out = new ArrayList<>();
        int[] conversation = system;
        for (int[] user : users) {
            int[] prompt = concat(conversation, user);
            long t0 = System.nanoTime();
            KvCache cache = net.newCache();
            PrefixCache.Lease lease = pc == null ? null : pc.lookup(prompt, prompt.length - 1, cache);
            Sequence seq = new Sequence(net, model.tokenizer(), cache, prompt,
                    new SamplingParams(0, 0, 1, 0, null, answerTokens, List.of(), true));
            long ttft = 0;
            List<Integer> answer = new ArrayList<>();
            while (!seq.finished()) {
                Sequence.Token t = seq.accept(net.forward(List.of(seq.nextStep())).getFirst());
                if (t != null) {
                    if (answer.isEmpty()) {
                        ttft = System.nanoTime() - t0;
                        if (pc != null) {
                            pc.insert(prompt, prompt.length, cache);
                        }
                    }
                    answer.add(t.id());
                }
            }
            if (lease != null) {
                lease.close();
            }
            int[] a = answer.stream().mapToInt(Integer::intValue).toArray();
            out.add(new Turn(prompt.length, lease == null ? 0 : lease.tokens(), ttft, a));
            conversation = concat(prompt, a);
        }
        return out;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    private static double loadavg() {
        try {
            return Double.parseDouble(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }
}
