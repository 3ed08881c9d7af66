using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Cli.Commands;

namespace ZImageSharp.Cli;

internal static class Program
{
    private static int Main(string[] args) => Run(args);

    /// <summary>The whole CLI, callable in-process (tests).</summary>
    internal static int Run(string[] args)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("zimage");
            config.AddCommand<GenerateCommand>("generate").WithDescription("Generate images from a prompt and write PNGs.")
                .WithExample("generate", "--prompt", "\"a red fox in the snow\"", "--output", "fox.png");
            config.AddCommand<BenchCommand>("bench").WithDescription("Measure speed and peak memory per phase (real-size model, random weights; no files needed).");
            config.AddCommand<ServeCommand>("serve").WithDescription("Serve the web page and the HTTP APIs (native jobs, OpenAI images, A1111).");
            config.AddCommand<PlanCommand>("plan").WithDescription("Print the memory plan for a request on this card, or on --vram-budget, without loading weights.");
            config.AddCommand<DoctorCommand>("doctor").WithDescription("Report the device, driver, libtorch, other processes' memory and what runs here.");
            config.AddCommand<ParityCommand>("parity").WithDescription("Check the model against the reference fixtures on a device and dtype.");
            config.SetExceptionHandler((exception, _) => ErrorReporter.Report(exception));
        });
        return app.Run(args);
    }
}
