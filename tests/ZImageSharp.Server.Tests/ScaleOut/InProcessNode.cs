using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>A server of a fleet in this process, on a loopback socket, with the fake engine: <paramref name="workers"/>
/// workers (0: an API-only node) whose card fits what its <see cref="FakePlanner"/> fits. Nodes given one database and
/// one images folder share queue, history and images.</summary>
public sealed class InProcessNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _folder;

    private InProcessNode(WebApplication app, string folder, FakeImageGenerator generator)
    {
        _app = app;
        _folder = folder;
        Generator = generator;
        Http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) };
    }

    public FakeImageGenerator Generator { get; }

    public HttpClient Http { get; }

    public static async Task<InProcessNode> StartAsync(TestDatabase db, string name, int workers, string images,
        FakeImageGenerator? generator = null, int maxSide = 2048, int leaseSeconds = 3, double secondsPerStep = 0.1,
        Action<ZImageServerOptions>? configure = null)
    {
        generator ??= new FakeImageGenerator();
        string folder = TempFolder.Create();
        var app = ZImageServerHost.Build(["--urls", "http://127.0.0.1:0"], services =>
        {
            TestHostProgram.RegisterFakes(services, generator, new FakePlanner { MaxSide = maxSide, SecondsPerStep = secondsPerStep });
            services.AddLogging(logging => logging.ClearProviders());
            services.PostConfigure<ZImageServerOptions>(options =>
            {
                options.DataDirectory = folder;
                options.ImagesDirectory = images;
                options.Store = db.Uri;
                options.NodeName = name;
                options.GpuCount = workers;
                options.LeaseSeconds = leaseSeconds;
                options.ShutdownGraceSeconds = 1;
                options.QueueCapacity = 200;
                configure?.Invoke(options);
            });
        });
        await app.StartAsync();
        return new InProcessNode(app, folder, generator);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        TempFolder.Delete(_folder);
    }
}
