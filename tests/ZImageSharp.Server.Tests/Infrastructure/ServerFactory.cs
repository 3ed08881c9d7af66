using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests.Infrastructure;

/// <summary>An in-memory server with the fake engine and its own data folder. Two factories given the same folder
/// are a server and its restart.</summary>
public sealed class ServerFactory : WebApplicationFactory<TestHostProgram>
{
    private readonly bool _ownsFolder;

    public ServerFactory(string? dataDirectory = null, Action<ZImageServerOptions>? configure = null)
    {
        _ownsFolder = dataDirectory is null;
        DataDirectory = dataDirectory ?? TempFolder.Create();
        Configure = configure;
    }

    public string DataDirectory { get; }

    public Action<ZImageServerOptions>? Configure { get; }

    public FakeImageGenerator Generator { get; init; } = new();

    public FakePlanner Planner { get; init; } = new();

    public CapturedLogs Logs { get; } = new();

    /// <summary>Configuration values, as appsettings.json or the environment would give them (ZIMAGE_API_KEYS,
    /// ZImage:Server:ApiKeys:0, …).</summary>
    public IDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseContentRoot(AppContext.BaseDirectory);
        builder.ConfigureAppConfiguration((_, configuration) => configuration.AddInMemoryCollection(Settings));
        builder.ConfigureLogging(logging =>
        {
            logging.ClearProviders();
            logging.AddProvider(Logs);
        });
        builder.ConfigureTestServices(services =>
        {
            services.RemoveAll<IImageGenerator>();
            services.RemoveAll<IGenerationPlanner>();
            services.RemoveAll<ISystemInfo>();
            TestHostProgram.RegisterFakes(services, Generator, Planner);
            services.PostConfigure<ZImageServerOptions>(options =>
            {
                options.DataDirectory = DataDirectory;
                options.ShutdownGraceSeconds = 1;
                Configure?.Invoke(options);
            });
        });
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_ownsFolder) TempFolder.Delete(DataDirectory);
    }
}

public static class TempFolder
{
    public static string Create()
    {
        string path = Path.Combine(Path.GetTempPath(), "zimage-server-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Delete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
