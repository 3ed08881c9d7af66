using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Cli.Commands;

namespace ZImageSharp.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("zimage");
            config.AddCommand<DoctorCommand>("doctor").WithDescription("Report the device, driver, libtorch, other processes' memory and what runs here.");
            config.SetExceptionHandler((exception, _) => ErrorReporter.Report(exception));
        });
        return app.Run(args);
    }
}
