using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using ZImageSharp.Server.Apis;
using ZImageSharp.Server.Diagnostics;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Security;
using ZImageSharp.Server.Store;

namespace ZImageSharp.Server.Hosting;

/// <summary>The server's two entry points: <see cref="AddZImageServer"/> registers it, <see cref="MapZImageServer"/>
/// maps the page and the APIs. The engine (IImageGenerator, IGenerationPlanner, ISystemInfo) comes from DI.</summary>
public static class ZImageServerExtensions
{
    /// <summary>Registers queue, workers, history, metrics, health checks and OpenAPI, bound to the
    /// <c>ZImage:Server</c> configuration section. Register IImageGenerator (one per GPU, or one shared),
    /// IGenerationPlanner and ISystemInfo as well.</summary>
    public static IServiceCollection AddZImageServer(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ZImageServerOptions>()
            .Bind(configuration.GetSection(ZImageServerOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ZImageServerOptions>>(new SecurityOptionsValidator(configuration));
        services.AddSingleton(provider => ApiKeyRing.Load(
            provider.GetRequiredService<IOptions<ZImageServerOptions>>().Value, configuration, new List<string>()));
        // The host must wait for the running job's grace period before it gives up on the worker.
        services.AddOptions<HostOptions>().Configure<IOptions<ZImageServerOptions>>((host, server) =>
        {
            var needed = TimeSpan.FromSeconds(server.Value.ShutdownGraceSeconds + 10);
            if (host.ShutdownTimeout < needed) host.ShutdownTimeout = needed;
        });

        // ASP.NET Core logs about ten Information lines a request (starting, endpoint, result, finished); RequestLog
        // writes one. As its templates' appsettings.json does, the framework logs warnings only, unless the
        // configuration names a level for Microsoft.AspNetCore itself (more specific categories win anyway).
        services.Configure<LoggerFilterOptions>(logging =>
        {
            if (!logging.Rules.Any(rule => rule.CategoryName == "Microsoft.AspNetCore"))
                logging.Rules.Add(new LoggerFilterRule(null, "Microsoft.AspNetCore", LogLevel.Warning, null));
        });

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IValidateOptions<ZImageServerOptions>, StoreOptionsValidator>();
        // The store is chosen when first resolved, from the options as bound and post-configured: SQLite in the data
        // folder with an in-memory queue (one process), or PostgreSQL shared by the fleet.
        services.AddSingleton(provider => PostgresJobStore.Open(StoreLocation.ToConnectionString(
            provider.GetRequiredService<IOptions<ZImageServerOptions>>().Value.Store)));
        services.AddSingleton<IJobStore>(provider =>
        {
            var server = provider.GetRequiredService<IOptions<ZImageServerOptions>>().Value;
            return server.IsSharedStore
                ? provider.GetRequiredService<PostgresJobStore>()
                : JobStore.Open(Path.Combine(server.ResolvedDataDirectory, "history.db"));
        });
        services.AddSingleton<IJobDispatch>(provider =>
            provider.GetRequiredService<IOptions<ZImageServerOptions>>().Value.IsSharedStore
                ? ActivatorUtilities.CreateInstance<PostgresDispatch>(provider)
                : ActivatorUtilities.CreateInstance<LocalDispatch>(provider));
        services.AddSingleton<JobQueue>();
        services.AddSingleton<JobRegistry>();
        services.AddSingleton<ImageFiles>();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<JobService>();
        services.AddSingleton<GenerationWorker>();
        // Before the workers: a bucket that refuses the keys stops startup rather than failing the first job.
        services.AddHostedService<S3StoreCheck>();
        services.AddHostedService(provider => provider.GetRequiredService<GenerationWorker>());

        services.AddProblemDetails();
        // First, so that it answers every error (ProblemJsonWriter says why ASP.NET Core's own is not enough).
        services.Insert(0, ServiceDescriptor.Singleton<IProblemDetailsWriter, ProblemJsonWriter>());
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        });
        services.AddHealthChecks().AddCheck<ReadinessHealthCheck>("ready", tags: ["ready"]);
        services.AddOpenApi("v1", options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "ZImageSharp";
            document.Info.Description =
                "Z-Image-Turbo text-to-image. The native API queues jobs (POST /api/jobs) and streams their progress as " +
                "server-sent events; errors are problem+json (RFC 9457) whose type names the error code.";
            return Task.CompletedTask;
        }));
        return services;
    }

    /// <summary>Adds the problem+json error handling and maps the web page (/), the native API (/api/jobs),
    /// /api/plan, /api/system, the OpenAI and A1111 APIs, /metrics, /health/live, /health/ready and
    /// /openapi/v1.json.</summary>
    public static WebApplication MapZImageServer(this WebApplication app)
    {
        app.UseMiddleware<RequestLog>(); // outermost, so that it logs the status the client really got
        app.UseExceptionHandler();
        app.UseStatusCodePages(context => Problems.WriteStatusAsync(context.HttpContext).AsTask());
        app.UseMiddleware<RequestGuard>();
        LogSecurity(app);

        app.MapWebPage();
        app.MapJobsApi();
        app.MapSystemApi();
        app.MapSessionApi();
        app.MapOpenAiImagesApi();
        app.MapAutomatic1111Api();
        // These map every method unless told; a scraper or a probe only ever GETs.
        var getOnly = new HttpMethodMetadata([HttpMethods.Get]);
        app.MapMetrics("/metrics", app.Services.GetRequiredService<ServerMetrics>().Registry).WithMetadata(getOnly);
        // Probes send no key, and the answer tells nothing but up or down.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).WithMetadata(getOnly).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") })
            .WithMetadata(getOnly).AllowAnonymous();
        // One document: other names miss the route and get the usual 404 problem, not OpenAPI's plain-text one.
        app.MapOpenApi("/openapi/{documentName:regex(^v1$)}.json");
        return app;
    }

    private static void LogSecurity(WebApplication app)
    {
        var keys = app.Services.GetRequiredService<ApiKeyRing>(); // validates the options: bad keys stop the build here
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RequestGuard).FullName!);
        if (keys.Enabled)
        {
            Log.KeysRequired(logger, keys.CountOf(ApiAccess.Full), keys.CountOf(ApiAccess.Read));
            return;
        }
        var exposed = ListenAddresses.Configured(app.Configuration).Where(url => !ListenAddresses.IsLoopback(url)).ToList();
        if (exposed.Count > 0) Log.Unauthenticated(logger, string.Join(", ", exposed));
    }
}
