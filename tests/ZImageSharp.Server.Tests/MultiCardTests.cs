using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests;

/// <summary>One process, the embedded store (SQLite), two cards of different sizes (zimage serve --devices): each
/// worker takes only jobs its own card's plan fits, and admission accepts what either card fits.</summary>
public sealed class MultiCardTests
{
    [Fact]
    public async Task Each_card_takes_the_jobs_its_own_plan_fits_and_leaves_the_others_to_the_card_that_fits_them()
    {
        var small = new FakeCard(new FakeImageGenerator(), new FakePlanner { MaxSide = 1024 });
        var large = new FakeCard(new FakeImageGenerator(), new FakePlanner { MaxSide = 2048 });
        string folder = TempFolder.Create();
        await using var app = await StartAsync(folder, small, large);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) };
        large.Generator.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // 2048² fits only the large card (the process's own planner, the small card's, says no): admitted.
        string first = (string)(await http.SubmitAsync(new { prompt = "first large", width = 2048, height = 2048, steps = 4 }))["id"]!;
        await http.WaitForStateAsync(first, "running");
        string second = (string)(await http.SubmitAsync(new { prompt = "second large", width = 2048, height = 2048, steps = 4 }))["id"]!;
        string medium = (string)(await http.SubmitAsync(new { prompt = "medium", width = 1024, height = 1024, steps = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(medium, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, small.Generator.Completed("medium"));
        Assert.Equal("queued", (string)(await http.GetFromJsonAsync<JsonNode>($"/api/jobs/{second}"))!["state"]!);

        large.Generator.Hold.TrySetResult();
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(first, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(second, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(2, large.Generator.Completed("first large") + large.Generator.Completed("second large"));
        Assert.Equal(0, small.Generator.Completed("first large") + small.Generator.Completed("second large"));

        // Larger than both cards: 422, as with one card.
        var refused = await http.PostAsync("/api/jobs", Requests.Json(new { prompt = "too big", width = 4096, height = 4096, steps = 2 }));
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        await app.StopAsync();
        TempFolder.Delete(folder);
    }

    [Fact]
    public async Task A_job_both_cards_fit_goes_to_the_much_faster_idle_card_and_to_the_slower_one_while_it_is_busy()
    {
        var slow = new FakeCard(new FakeImageGenerator(), new FakePlanner { SecondsPerStep = 1.0 });
        var fast = new FakeCard(new FakeImageGenerator(), new FakePlanner { SecondsPerStep = 0.1 });
        string folder = TempFolder.Create();
        await using var app = await StartAsync(folder, slow, fast);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) };

        for (int i = 0; i < 4; i++)
        {
            string id = (string)(await http.SubmitAsync(new { prompt = $"either {i}", width = 1024, height = 1024, steps = 8 }))["id"]!;
            Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(id, TimeSpan.FromSeconds(30)))["state"]!);
        }
        Assert.Equal(4, Enumerable.Range(0, 4).Sum(i => fast.Generator.Completed($"either {i}")));

        fast.Generator.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string held = (string)(await http.SubmitAsync(new { prompt = "held on fast", width = 1024, height = 1024, steps = 8 }))["id"]!;
        await http.WaitForStateAsync(held, "running");
        string other = (string)(await http.SubmitAsync(new { prompt = "while fast is busy", width = 1024, height = 1024, steps = 8 }))["id"]!;
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(other, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, slow.Generator.Completed("while fast is busy"));
        Assert.Equal(1, fast.Generator.Started("held on fast"));
        fast.Generator.Hold.TrySetResult();
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(held, TimeSpan.FromSeconds(30)))["state"]!);
        await app.StopAsync();
        TempFolder.Delete(folder);
    }

    private static async Task<WebApplication> StartAsync(string folder, FakeCard first, FakeCard second)
    {
        var app = ZImageServerHost.Build(["--urls", "http://127.0.0.1:0"], services =>
        {
            services.AddSingleton<IImageGenerator>(first);
            services.AddSingleton<IImageGenerator>(second);
            // The first engine plans for the process, as zimage serve registers it.
            services.AddSingleton<IGenerationPlanner>(first);
            services.AddSingleton<ISystemInfo>(new FakeSystemInfo(first.Generator));
            services.AddLogging(logging => logging.ClearProviders());
            services.PostConfigure<ZImageServerOptions>(options =>
            {
                options.DataDirectory = folder;
                options.GpuCount = 2;
                options.ShutdownGraceSeconds = 1;
            });
        });
        await app.StartAsync();
        return app;
    }
}
