using System.ComponentModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;

namespace ZImageSharp.Cli.Commands;

/// <summary>Starts the HTTP server (web page, native/OpenAI/A1111 APIs, metrics) around one engine. Settings not
/// named here pass through to ASP.NET Core (appsettings, ZIMAGE__* environment variables, --ZImage:Server:...).</summary>
internal sealed class ServeCommand : Command<ServeCommand.Settings>
{
    internal sealed class Settings : EngineSettings
    {
        [CommandOption("--urls <URLS>")]
        [Description("Where to listen (default http://127.0.0.1:7860; use http://0.0.0.0:7860 to serve the network).")]
        public string Urls { get; init; } = "http://127.0.0.1:7860";

        [CommandOption("--data-dir <DIR>")]
        [Description("Job history (SQLite) and images (default ./zimage-data).")]
        public string? DataDirectory { get; init; }

        [CommandOption("--queue <N>")]
        [Description("Jobs that may wait before new ones get 429 (default 16).")]
        public int? QueueCapacity { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var engine = EngineFactory.Create(settings);
        if (engine.Model.IsDemo)
            AnsiConsole.MarkupLineInterpolated($"[yellow]demo model:[/] {engine.Model.Description}");
        AnsiConsole.MarkupLineInterpolated($"[grey]device {engine.Device.Description}; listening on {settings.Urls}[/]");

        var args = new List<string> { "--urls", settings.Urls };
        if (settings.DataDirectory is { } dir) args.AddRange(["--ZImage:Server:DataDirectory", dir]);
        if (settings.QueueCapacity is { } queue) args.AddRange(["--ZImage:Server:QueueCapacity", queue.ToString()]);
        args.AddRange(context.Remaining.Raw);

        var app = ZImageServerHost.Build([.. args], services =>
        {
            services.AddSingleton<IImageGenerator>(engine);
            services.AddSingleton<IGenerationPlanner>(engine);
            services.AddSingleton<ISystemInfo>(engine);
        });
        app.StartAsync(cancellationToken).GetAwaiter().GetResult();
        app.WaitForShutdownAsync(cancellationToken).GetAwaiter().GetResult();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }
}
