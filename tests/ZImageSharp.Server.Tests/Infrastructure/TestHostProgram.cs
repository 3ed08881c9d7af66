using Microsoft.Extensions.DependencyInjection;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests.Infrastructure;

/// <summary>The entry point WebApplicationFactory starts: the same <see cref="ZImageServerHost.Build(string[], Action{IServiceCollection})"/>
/// that <c>zimage serve</c> uses, with the fake engine. Tests swap the fakes for their own instances.</summary>
public sealed class TestHostProgram
{
    public static void Main(string[] args) => ZImageServerHost.Build(args, RegisterFakes).Run();

    public static void RegisterFakes(IServiceCollection services) => RegisterFakes(services, new FakeImageGenerator(), new FakePlanner());

    public static void RegisterFakes(IServiceCollection services, FakeImageGenerator generator, FakePlanner planner)
    {
        services.AddSingleton<IImageGenerator>(generator);
        services.AddSingleton<IGenerationPlanner>(planner);
        services.AddSingleton<ISystemInfo>(new FakeSystemInfo(generator));
    }
}
