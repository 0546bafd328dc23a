package grok1j.cli;

import java.io.PrintStream;

/** The output streams of the current CLI run (stdout for results, stderr for progress and statistics). */
final class CommandLineContext {
    private static PrintStream out = System.out;
    private static PrintStream err = System.err;

    private CommandLineContext() {}

    static void set(PrintStream o, PrintStream e) {
        out = o;
        err = e;
    }

    static PrintStream out() {
        return out;
    }

    static PrintStream err() {
        return err;
    }
}
