using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Options;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>The real engine on the CPU with the built-in tiny demo model (no weights configured), built once per test
/// class: loading the tokenizer takes seconds, a server around it milliseconds.</summary>
public class TinyEngineFixture : IDisposable
{
    public TinyEngineFixture() : this(new EngineOptions { Device = "cpu" })
    {
    }

    protected TinyEngineFixture(EngineOptions options) => Engine = ZImageEngine.Create(options);

    public ZImageEngine Engine { get; }

    /// <summary>The test server of <paramref name="host"/> (its data folder, logs and options) with this engine in place
    /// of the fakes, registered exactly as <c>zimage serve</c> registers it. Disposing <paramref name="host"/> disposes it.</summary>
    public WebApplicationFactory<TestHostProgram> Serve(ServerFactory host) =>
        host.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
        {
            // These run after ServerFactory's own test services, so the fakes it registered are the ones removed.
            services.RemoveAll<IImageGenerator>();
            services.RemoveAll<IGenerationPlanner>();
            services.RemoveAll<ISystemInfo>();
            services.RemoveAll<ILoraCatalog>();
            services.AddSingleton<IImageGenerator>(Engine);
            services.AddSingleton<IGenerationPlanner>(Engine);
            services.AddSingleton<ILoraCatalog>(Engine);
            services.AddSingleton<ISystemInfo>(Engine);
        }));

    /// <summary>As <see cref="Serve"/>, on a real Kestrel socket at 127.0.0.1 and a free port (a browser cannot reach
    /// the in-memory test server); returns the address it listens on.</summary>
    public Uri ServeOnLoopback(ServerFactory host)
    {
        var factory = Serve(host);
        factory.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        factory.StartServer();
        var addresses = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()
            ?? throw new InvalidOperationException("Kestrel reports no listening address.");
        return new Uri(addresses.Addresses.Single());
    }

    public void Dispose()
    {
        Engine.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The tiny engine with the demo model's LoRAs (tests/data/lora/demo, scripts/make-lora-fixtures.py) as its LoRA
/// folder, as <c>zimage serve --lora-dir</c> gives it.</summary>
public sealed class TinyEngineWithLorasFixture() : TinyEngineFixture(new EngineOptions { Device = "cpu", LoraFolder = Folder })
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "data", "lora", "demo");
}
