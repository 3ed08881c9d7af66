using System.ComponentModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
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
        [Description("Where to listen (default http://127.0.0.1:7860: this machine only, no key needed). To serve the network " +
                     "(http://0.0.0.0:7860) give an API key (--api-key, --api-keys-file or ZIMAGE_API_KEYS); without one the " +
                     "server refuses to start.")]
        public string Urls { get; init; } = "http://127.0.0.1:7860";

        [CommandOption("--api-key <KEY>")]
        [Description("An API key clients send as 'Authorization: Bearer KEY': KEY or full:KEY may do everything, read:KEY only " +
                     "read. Repeat for several. Other users of this machine can read command lines: prefer ZIMAGE_API_KEYS or --api-keys-file.")]
        public string[] ApiKeys { get; init; } = [];

        [CommandOption("--api-keys-file <FILE>")]
        [Description("A file of API keys, one a line (KEY, full:KEY or read:KEY; # starts a comment).")]
        public string? ApiKeysFile { get; init; }

        [CommandOption("--allow-host <NAME>")]
        [Description("A host name the server answers to besides localhost and the address it listens on (gpu.example.com, *.lan). Repeatable.")]
        public string[] AllowedHosts { get; init; } = [];

        [CommandOption("--insecure-no-auth")]
        [Description("Serve a network address without API keys: anyone who can reach it may generate, cancel and delete.")]
        public bool InsecureNoAuth { get; init; }

        [CommandOption("--data-dir <DIR>")]
        [Description("Job history (SQLite) and images (default ./zimage-data).")]
        public string? DataDirectory { get; init; }

        [CommandOption("--queue <N>")]
        [Description("Jobs that may wait before new ones get 429 (default 16).")]
        public int? QueueCapacity { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var args = new List<string> { "--urls", settings.Urls };
        if (settings.DataDirectory is { } dir) args.AddRange(["--ZImage:Server:DataDirectory", dir]);
        if (settings.QueueCapacity is { } queue) args.AddRange(["--ZImage:Server:QueueCapacity", queue.ToString()]);
        args.AddRange(context.Remaining.Raw);

        // Added to the options, not passed as arguments: an array in appsettings.json would share their indexes.
        void Security(IServiceCollection services) => services.PostConfigure<ZImageServerOptions>(options =>
        {
            options.ApiKeys.AddRange(settings.ApiKeys);
            options.AllowedHosts.AddRange(settings.AllowedHosts);
            if (settings.ApiKeysFile is { } file) options.ApiKeysFile = file;
            if (settings.InsecureNoAuth) options.AllowUnauthenticatedNetwork = true;
        });
        try
        {
            // Before the engine loads (which can take a while): a bad key or a keyless network address stops here.
            ZImageServerHost.Validate([.. args], (services, _) => Security(services));
        }
        catch (OptionsValidationException e)
        {
            foreach (string failure in e.Failures)
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {failure}");
            return ErrorReporter.UsageError;
        }
        if (settings.InsecureNoAuth)
            AnsiConsole.MarkupLine("[red bold]warning:[/] [red]--insecure-no-auth: without API keys, anyone who can reach this server may generate, cancel and delete.[/]");

        using var engine = EngineFactory.Create(settings);
        if (engine.Model.IsDemo)
            AnsiConsole.MarkupLineInterpolated($"[yellow]demo model:[/] {engine.Model.Description}");
        AnsiConsole.MarkupLineInterpolated($"[grey]device {engine.Device.Description}; listening on {settings.Urls}[/]");

        var app = ZImageServerHost.Build([.. args], services =>
        {
            services.AddSingleton<IImageGenerator>(engine);
            services.AddSingleton<IGenerationPlanner>(engine);
            services.AddSingleton<ILoraCatalog>(engine);
            services.AddSingleton<ISystemInfo>(engine);
            Security(services);
        });
        app.StartAsync(cancellationToken).GetAwaiter().GetResult();
        app.WaitForShutdownAsync(cancellationToken).GetAwaiter().GetResult();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }
}
