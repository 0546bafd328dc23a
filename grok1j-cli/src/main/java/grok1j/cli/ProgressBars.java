package grok1j.cli;

import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** The progress bars of {@code convert} and {@code inspect --check}, in MiB, on stderr. */
final class ProgressBars {
    /** How often a bar is printed as a line of its own when stderr is not a terminal. */
    static final int LOG_INTERVAL_MILLIS = 10_000;

    private ProgressBars() {
    }

    /**
     * A bar redrawn in place on a terminal; written to a file or a pipe, one line every
     * {@value #LOG_INTERVAL_MILLIS} ms and one at the end, since redraws (carriage returns) run together in a log.
     */
    static ProgressBar start(String task, long totalBytes, PrintStream err) {
        ProgressBarBuilder b = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(totalBytes)
                .setUnit(" MiB", 1L << 20)
                .showSpeed()
                .setStyle(ProgressBarStyle.ASCII);
        java.io.Console console = System.console();
        if (err == System.err && console != null && console.isTerminal()) {
            b.setConsumer(new ConsoleProgressBarConsumer(err));
        } else {
            b.setConsumer(new DelegatingProgressBarConsumer(err::println, 120)).setUpdateIntervalMillis(LOG_INTERVAL_MILLIS);
        }
        return b.build();
    }
}
