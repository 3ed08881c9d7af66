using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

public sealed class HostingTests
{
    [Fact]
    public async Task Options_bind_from_the_command_line_and_bad_values_stop_the_build_naming_the_setting()
    {
        string folder = TempFolder.Create();
        try
        {
            await using (var app = ZImageServerHost.Build(
                ["--ZImage:Server:QueueCapacity=3", "--ZImage:Server:GpuCount=2", $"--ZImage:Server:DataDirectory={folder}"],
                TestHostProgram.RegisterFakes))
            {
                var options = app.Services.GetRequiredService<IOptions<ZImageServerOptions>>().Value;
                Assert.Equal(3, options.QueueCapacity);
                Assert.Equal(2, options.GpuCount);
                Assert.Equal(folder, options.DataDirectory);
            }

            // Validation runs while the host is built, before anything listens.
            var error = Assert.Throws<OptionsValidationException>(() => ZImageServerHost.Build(
                ["--urls", "http://127.0.0.1:0", "--ZImage:Server:QueueCapacity=0", $"--ZImage:Server:DataDirectory={folder}"],
                TestHostProgram.RegisterFakes));
            Assert.Contains("QueueCapacity", error.Message);
        }
        finally
        {
            TempFolder.Delete(folder);
        }
    }

    [Fact]
    public void Validate_checks_the_settings_without_an_engine_so_zimage_serve_fails_before_loading_one()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ZImageServerHost.Validate(["--urls", "http://0.0.0.0:7860"]));
        Assert.Contains("no API key", error.Message);
        // What the host adds to the options counts: zimage serve's --api-key.
        ZImageServerHost.Validate(["--urls", "http://0.0.0.0:7860"], (services, _) =>
            services.PostConfigure<ZImageServerOptions>(o => o.ApiKeys.Add("read:0123456789abcdef0123")));
        Assert.Throws<OptionsValidationException>(() => ZImageServerHost.Validate(["--ZImage:Server:QueueCapacity=0"]));
    }

    [Fact]
    public async Task Two_gpus_run_two_jobs_at_once()
    {
        await using var server = new ServerFactory(configure: o => o.GpuCount = 2);
        server.Generator.Hold = new TaskCompletionSource();
        var client = server.CreateClient();
        var first = await client.SubmitAsync(new { prompt = "gpu a", steps = 2 });
        var second = await client.SubmitAsync(new { prompt = "gpu b", steps = 2 });
        await client.WaitForStateAsync((string)first["id"]!, "running");
        await client.WaitForStateAsync((string)second["id"]!, "running");
        server.Generator.Hold.SetResult();
        Assert.Equal("succeeded", (string)(await client.WaitForEndAsync((string)second["id"]!))["state"]!);
    }

    [Fact]
    public async Task A_synchronous_request_that_outlives_its_wait_is_cancelled_with_a_504()
    {
        await using var server = new ServerFactory(configure: o => o.SyncTimeoutSeconds = 1);
        server.Generator.Hold = new TaskCompletionSource();
        var client = server.CreateClient();
        var problem = await (await client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "slow" })))
            .AssertProblem(HttpStatusCode.GatewayTimeout);
        Assert.Contains("did not finish within 1 s", (string)problem["detail"]!);
        await Requests.Eventually(() => server.Generator.Cancelled == 1, "the job is cancelled");
    }
}
