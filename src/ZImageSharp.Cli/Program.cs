using System.Reflection;
using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Cli.Commands;
using ZImageSharp.Cli.Commands.Bench;

namespace ZImageSharp.Cli;

internal static class Program
{
    private static int Main(string[] args) => Run(args);

    /// <summary>The build's informational version (e.g. 1.0.0+commit), what <c>zimage --version</c> prints.</summary>
    public static string Version { get; } =
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Program).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>The whole CLI, callable in-process (tests).</summary>
    internal static int Run(string[] args)
    {
        var app = new CommandApp();
        var commands = new List<CliCommand>();
        app.Configure(config =>
        {
            config.SetApplicationName("zimage");
            config.SetApplicationVersion(Markup.Escape(Version));
            // Help and --version go where the commands write (stdout), read now so a caller that swapped it is heard.
            config.ConfigureConsole(AnsiConsole.Console);
            Add<GenerateCommand>(config, commands, "generate", "Generate images from a prompt and write PNGs.")
                .WithExample("generate", "--prompt", "\"a red fox in the snow\"", "--output", "fox.png");
            Add<BenchCommand>(config, commands, "bench", "Measure speed and peak memory per phase (real-size model, random weights; no files needed).");
            Add<ServeCommand>(config, commands, "serve", "Serve the web page and the HTTP APIs (native jobs, OpenAI images, A1111).", passesConfigurationKeys: true);
            Add<PlanCommand>(config, commands, "plan", "Print the memory plan for a request on this card, or on --vram-budget, without loading weights.");
            Add<DoctorCommand>(config, commands, "doctor", "Report the device, driver, libtorch, other processes' memory and what runs here.");
            Add<ParityCommand>(config, commands, "parity", "Check the model against the reference fixtures on a device and dtype.");
            config.AddBranch("store", store =>
            {
                store.SetDescription("Manage the job store (docs/scale-out.md).");
                store.AddCommand<StoreMigrateCommand>("migrate")
                    .WithDescription("Copy a SQLite history (history.db) into a PostgreSQL store shared by many servers.");
            });
            config.SetExceptionHandler((exception, _) => ErrorReporter.Report(exception));
        });
        // Before Spectre binds anything: it would run `--widht 64` with the default width (see CommandLineCheck).
        if (CommandLineCheck.Problem(args, commands) is { } problem)
            return ErrorReporter.Usage(problem);
        return app.Run(args);
    }

    private static ICommandConfigurator Add<TCommand>(IConfigurator config, List<CliCommand> commands, string name, string description,
        bool passesConfigurationKeys = false) where TCommand : class, ICommand
    {
        var settings = typeof(TCommand).BaseType is { IsGenericType: true } generic ? generic.GetGenericArguments()[0]
            : throw new InvalidOperationException($"{typeof(TCommand).Name} does not derive from Command<TSettings>.");
        commands.Add(new CliCommand(name, settings, passesConfigurationKeys));
        return config.AddCommand<TCommand>(name).WithDescription(description);
    }
}
