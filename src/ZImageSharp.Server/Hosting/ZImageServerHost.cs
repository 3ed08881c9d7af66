using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ZImageSharp.Server.Hosting;

/// <summary>Builds the whole server the ASP.NET Core way: appsettings.json, environment variables and command-line
/// arguments (<c>--urls</c>, <c>--ZImage:Server:QueueCapacity=32</c>) all apply.</summary>
public static class ZImageServerHost
{
    /// <summary>Builds the server; <paramref name="registerEngine"/> registers IImageGenerator, IGenerationPlanner
    /// and ISystemInfo. Run it with <c>await app.RunAsync()</c>.</summary>
    public static WebApplication Build(string[] args, Action<IServiceCollection> registerEngine) =>
        Build(args, (services, _) => registerEngine(services));

    /// <summary>Checks the server's settings as <see cref="Build(string[], Action{IServiceCollection, IConfiguration})"/>
    /// would (bad values, malformed keys, a network address without a key) without building anything else, so that
    /// a host can fail before it spends time loading its engine. Throws <see cref="OptionsValidationException"/>
    /// naming every problem. <paramref name="configure"/> registers what the host adds to the options.</summary>
    public static void Validate(string[] args, Action<IServiceCollection, IConfiguration>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder.Services, builder.Configuration);
        builder.Services.AddZImageServer(builder.Configuration);
        using var services = builder.Services.BuildServiceProvider();
        _ = services.GetRequiredService<IOptions<ZImageServerOptions>>().Value;
    }

    /// <summary>As <see cref="Build(string[], Action{IServiceCollection})"/>, for engines that read configuration.</summary>
    public static WebApplication Build(string[] args, Action<IServiceCollection, IConfiguration> registerEngine)
    {
        var builder = WebApplication.CreateBuilder(args);
        registerEngine(builder.Services, builder.Configuration);
        builder.Services.AddZImageServer(builder.Configuration);
        var app = builder.Build();
        app.MapZImageServer();
        return app;
    }
}
