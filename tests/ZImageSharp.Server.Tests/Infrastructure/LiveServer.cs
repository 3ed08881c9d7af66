using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests.Infrastructure;

/// <summary>The server on a real Kestrel socket at 127.0.0.1 and a free port, for the browser and the load test
/// (WebApplicationFactory's TestServer is in-memory).</summary>
public sealed class LiveServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _folder;

    private LiveServer(WebApplication app, string folder, FakeImageGenerator generator)
    {
        _app = app;
        _folder = folder;
        Generator = generator;
        BaseAddress = new Uri(app.Urls.Single());
    }

    public Uri BaseAddress { get; }

    public FakeImageGenerator Generator { get; }

    public static async Task<LiveServer> StartAsync(FakeImageGenerator generator, Action<ZImageServerOptions>? configure = null)
    {
        string folder = TempFolder.Create();
        var app = ZImageServerHost.Build(["--urls", "http://127.0.0.1:0"], services =>
        {
            TestHostProgram.RegisterFakes(services, generator, new FakePlanner());
            services.AddLogging(logging => logging.ClearProviders());
            services.PostConfigure<ZImageServerOptions>(options =>
            {
                options.DataDirectory = folder;
                options.ShutdownGraceSeconds = 1;
                configure?.Invoke(options);
            });
        });
        await app.StartAsync();
        return new LiveServer(app, folder, generator);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        TempFolder.Delete(_folder);
    }
}
