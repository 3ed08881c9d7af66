using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ZImageSharp.Server.Hosting;

/// <summary>Builds the whole server the ASP.NET Core way: appsettings.json, environment variables and command-line
/// arguments (<c>--urls</c>, <c>--ZImage:Server:QueueCapacity=32</c>) all apply.</summary>
public static class ZImageServerHost
{
    /// <summary>Builds the server; <paramref name="registerEngine"/> registers IImageGenerator, IGenerationPlanner
    /// and ISystemInfo. Run it with <c>await app.RunAsync()</c>.</summary>
    public static WebApplication Build(string[] args, Action<IServiceCollection> registerEngine) =>
        Build(args, (services, _) => registerEngine(services));

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
