package grok1j.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code grok1j} command line. Bad input prints one line to stderr and exits with status 2. */
@Command(name = "grok1j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Run xAI's Grok-1 on the JVM.",
        subcommands = {GenerateCommand.class, ScoreCommand.class, TokenizeCommand.class, InspectCommand.class,
                ConvertCommand.class, ServeCommand.class, BenchCommand.class, DoctorCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    /** Exit status for bad input (files, arguments, prompts). */
    public static final int EXIT_BAD_INPUT = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required (" + commands(spec.commandLine()) + ")");
    }

    public static void main(String[] args) {
        if (!grok1j.tensor.VectorModule.present()) {
            System.err.println("grok1j: the Vector API is missing: start java with " + grok1j.tensor.VectorModule.FLAG);
            System.exit(EXIT_BAD_INPUT);
        }
        PrintStream out = utf8(FileDescriptor.out);
        PrintStream err = utf8(FileDescriptor.err);
        if (!Cluster.launchedAsJob()) {
            System.exit(run(args, out, err));
        }
        // one rank of an mpirun job: rank 0 does all input and output, the others print only their own failures
        try {
            Cluster.start(err);
        } catch (RuntimeException e) {
            err.println("grok1j: " + oneLine(e));
            System.exit(EXIT_BAD_INPUT);
        }
        String binding = Cluster.bindingWarning();
        if (binding != null && !Cluster.launchedAsFollower()) {
            err.println(binding);
        }
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        int status = Cluster.launchedAsFollower() ? run(args, quiet, quiet) : run(args, out, err);
        Cluster.finish();
        System.exit(status);
    }

    /** Runs the CLI with the given streams; returns the exit status (used by tests). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setExitCodeExceptionMapper(e -> EXIT_BAD_INPUT);
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof Cluster.FollowerDone) {
                return 0;
            }
            boolean badInput = e instanceof java.io.IOException || e instanceof IllegalArgumentException
                    || e instanceof IllegalStateException || e instanceof java.io.UncheckedIOException
                    || e instanceof grok1j.model.NonFiniteException; // the weights' fault: bad input, no stack trace
            cmd.getErr().println("grok1j: " + (badInput ? "" : "internal error: ") + oneLine(e));
            if (Boolean.getBoolean("grok1j.debug") || !badInput) {
                e.printStackTrace(cmd.getErr());
            }
            cmd.getErr().flush();
            return badInput ? EXIT_BAD_INPUT : 1;
        });
        cli.setParameterExceptionHandler((e, a) -> {
            CommandLine cmd = e.getCommandLine();
            String msg = e.getMessage() == null ? "invalid arguments" : e.getMessage().replaceFirst("^Error: ", "");
            if (e instanceof CommandLine.UnmatchedArgumentException u && cmd.getParent() == null
                    && !u.getUnmatched().isEmpty() && !u.getUnmatched().getFirst().startsWith("-")) {
                msg = "unknown command '" + u.getUnmatched().getFirst() + "' (commands: " + commands(cmd) + ")";
            }
            cmd.getErr().println("grok1j: " + msg);
            cmd.getErr().println("Try 'grok1j " + (cmd.getCommandName().equals("grok1j") ? "" : cmd.getCommandName() + " ") + "--help'.");
            cmd.getErr().flush();
            return EXIT_BAD_INPUT;
        });
        CommandLineContext.set(out, err);
        try {
            return cli.execute(args);
        } finally {
            out.flush();
            err.flush();
        }
    }

    /** The subcommands, comma-separated, without {@code help}. */
    static String commands(CommandLine cli) {
        return String.join(", ", cli.getSubcommands().keySet().stream().filter(n -> !n.equals("help")).toList());
    }

    /** The exception's message on one line (a class name if it has none). */
    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
            if (e instanceof java.nio.file.NoSuchFileException) {
                m = "no such file or directory: " + e.getMessage();
            }
        } else if (e instanceof java.nio.file.NoSuchFileException) {
            m = "no such file or directory: " + m;
        } else if (e instanceof java.nio.file.AccessDeniedException) {
            m = "permission denied: " + m;
        }
        return m.replace('\n', ' ');
    }

    private static PrintStream utf8(FileDescriptor fd) {
        return new PrintStream(new FileOutputStream(fd), true, StandardCharsets.UTF_8);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"grok1j " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
        }
    }
}
