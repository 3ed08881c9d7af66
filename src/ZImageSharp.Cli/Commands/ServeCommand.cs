using System.ComponentModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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
        [Description("Jobs that may wait before new ones get 429 (default 16; with --store postgres://… the whole fleet's queue).")]
        public int? QueueCapacity { get; init; }

        [CommandOption("--store <STORE>")]
        [Description("Queue and history: sqlite (default, in --data-dir, one process) or postgres://user:password@host:5432/db, " +
                     "shared by any number of zimage serve processes on any number of machines (docs/scale-out.md).")]
        public string? Store { get; init; }

        [CommandOption("--devices <LIST>")]
        [Description("One worker per entry, each its own engine, device thread and plan: cuda:0,cuda:1 (or cpu,cpu). " +
                     "none: an API-only node (needs --store postgres://…), whose jobs run on the fleet's workers. Default: --device.")]
        public string? Devices { get; init; }

        [CommandOption("--images-dir <DIR>")]
        [Description("Where finished images go (default images/ in --data-dir); with a shared store, a folder every node mounts.")]
        public string? ImagesDirectory { get; init; }

        [CommandOption("--node-name <NAME>")]
        [Description("This process's name in the fleet (default: host name and process id).")]
        public string? NodeName { get; init; }

        /// <summary>The --devices entries; empty for an API-only node; null when --devices is not given.</summary>
        public IReadOnlyList<string>? DeviceList => Devices is null ? null
            : Devices.Trim().Equals("none", StringComparison.OrdinalIgnoreCase) ? []
            : Devices.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        public override ValidationResult Validate()
        {
            if (Devices is not null && DeviceList is { Count: 0 } && !Devices.Trim().Equals("none", StringComparison.OrdinalIgnoreCase))
                return ValidationResult.Error("--devices: give a comma-separated list (cuda:0,cuda:1 or cpu,cpu), or none for an API-only node.");
            if (DeviceList is { Count: > 64 })
                return ValidationResult.Error("--devices: at most 64 devices per process.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var args = new List<string> { "--urls", settings.Urls };
        if (settings.DataDirectory is { } dir) args.AddRange(["--ZImage:Server:DataDirectory", dir]);
        if (settings.QueueCapacity is { } queue) args.AddRange(["--ZImage:Server:QueueCapacity", queue.ToString()]);
        if (settings.Store is { } store) args.AddRange(["--ZImage:Server:Store", store]);
        if (settings.ImagesDirectory is { } images) args.AddRange(["--ZImage:Server:ImagesDirectory", images]);
        if (settings.NodeName is { } node) args.AddRange(["--ZImage:Server:NodeName", node]);
        var devices = settings.DeviceList;
        if (devices is not null) args.AddRange(["--ZImage:Server:GpuCount", devices.Count.ToString()]);
        // Host settings the command has no option for (--ZImage:Server:LeaseSeconds=3, --Logging:LogLevel:Default
        // Warning): Spectre splits such a name at its colons, so they are taken from the command line as typed; those
        // after "--" come raw.
        args.AddRange(HostSettings(Environment.GetCommandLineArgs().Skip(1).ToArray()));
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

        // One engine per device: each worker has its own device thread and plans for its own card. An API-only node
        // builds one that reads no weights (the model's shapes on the meta device): it plans requests for the fleet's
        // workers with their published capacities, checks LoRAs and tokenizes, and never runs a job.
        var engines = new List<ZImageSharp.Engine.ZImageEngine>();
        try
        {
            if (devices is null) engines.Add(EngineFactory.Create(settings));
            else if (devices.Count == 0) engines.Add(EngineFactory.CreatePlanOnly(settings));
            else foreach (string device in devices) engines.Add(EngineFactory.Create(settings, device));
            var engine = engines[0];
            if (engine.Model.IsDemo)
                AnsiConsole.MarkupLineInterpolated($"[yellow]demo model:[/] {engine.Model.Description}");
            AnsiConsole.MarkupLineInterpolated($"[grey]preset {engine.Model.Preset} ({engine.Model.Preset.Source})[/]");
            string where = devices is { Count: 0 } ? "API-only node (no workers)"
                : string.Join(", ", engines.Select((e, i) => $"worker {i}: {e.Device.Description}"));
            AnsiConsole.MarkupLineInterpolated($"[grey]{where}; listening on {settings.Urls}[/]");

            bool starting = true;
            var app = ZImageServerHost.Build([.. args], services =>
            {
                foreach (var each in engines) services.AddSingleton<IImageGenerator>(each);
                services.AddSingleton<IGenerationPlanner>(engine);
                services.AddSingleton<ILoraCatalog>(engine);
                services.AddSingleton<ISystemInfo>(engine);
                Security(services);
                // A failed start reaches the user as one error line below; the host's own log of it is a stack trace.
                services.Configure<LoggerFilterOptions>(logging => logging.Rules.Add(new LoggerFilterRule(
                    null, HostLogCategory, LogLevel.Information, (_, _, _) => !Volatile.Read(ref starting))));
            });
            try
            {
                app.StartAsync(cancellationToken).GetAwaiter().GetResult();
            }
            catch (IOException e) when (e.InnerException is AddressInUseException)
            {
                throw new UsageException($"Cannot listen on {settings.Urls}: the address is already in use (another server, or a " +
                                         "zimage serve still running). Stop it, or choose another address with --urls.");
            }
            finally
            {
                Volatile.Write(ref starting, false);
            }
            app.WaitForShutdownAsync(cancellationToken).GetAwaiter().GetResult();
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }
        finally
        {
            foreach (var each in engines) each.Dispose();
        }
    }

    /// <summary>Where Microsoft.Extensions.Hosting logs "Hosting failed to start" with the exception.</summary>
    private const string HostLogCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    /// <summary>The host configuration settings among <paramref name="argv"/> before any "--": a name of the form
    /// --Section:Key (with =value, or the value as the next argument).</summary>
    internal static IEnumerable<string> HostSettings(IReadOnlyList<string> argv)
    {
        for (int i = 0; i < argv.Count && argv[i] != "--"; i++)
        {
            string a = argv[i];
            int colon = a.IndexOf(':'), equals = a.IndexOf('=');
            if (!a.StartsWith("--", StringComparison.Ordinal) || colon < 3 || (equals >= 0 && equals < colon)) continue;
            yield return a;
            if (equals < 0 && i + 1 < argv.Count && !argv[i + 1].StartsWith('-')) yield return argv[++i];
        }
    }
}
