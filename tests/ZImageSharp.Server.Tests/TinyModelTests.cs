using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Xunit.Abstractions;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>The server around the real engine (CPU, the built-in tiny demo model), wired as <c>zimage serve</c> wires
/// it: every API end to end, cancellation of a running generation, and the web page in headless Chromium. Sizes stay
/// small so the whole class runs in seconds on two cores.</summary>
public sealed class TinyModelTests(TinyEngineFixture tiny, ITestOutputHelper output) : IClassFixture<TinyEngineFixture>, IAsyncLifetime
{
    private const string DemoName = "Z-Image demo (tiny random weights)";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private readonly ServerFactory _host = new();
    private HttpClient _client = null!;

    public Task InitializeAsync()
    {
        _client = tiny.Serve(_host).CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Native_job_streams_step_progress_and_ends_with_a_png_that_carries_the_prompt()
    {
        // One worker: while the first job runs, the second waits in the queue, so its stream opens before its first
        // step and sees every event.
        var ahead = await _client.SubmitAsync(new { prompt = "ahead in the queue", width = 256, height = 256, steps = 6, seed = 1 });
        var job = await _client.SubmitAsync(new { prompt = "a tiny red fox", width = 128, height = 128, steps = 2, seed = 42 });
        string id = (string)job["id"]!;

        var events = await ReadEventsAsync(id);

        Assert.Equal("done", events[^1].Name);
        Assert.Equal("succeeded", (string)events[^1].Data["state"]!);
        Assert.Contains(events, e => e.Name == "state" && (string)e.Data["state"]! == "running");
        var steps = events.Where(e => e.Name == "progress" && (string)e.Data["phase"]! == "denoise").Select(e => e.Data).ToList();
        Assert.NotEmpty(steps);
        // The engine reports step 0 as denoising begins, then each finished step.
        Assert.Equal([0, 1, 2], steps.Select(s => (int)s["step"]!).Distinct());
        Assert.All(steps, s => Assert.Equal(2, (int)s["total_steps"]!));

        var done = await _client.WaitForEndAsync(id, Generous);
        Assert.Equal("succeeded", (string)done["state"]!);
        Assert.Equal("succeeded", (string)(await _client.WaitForEndAsync((string)ahead["id"]!, Generous))["state"]!);
        var image = done["images"]!.AsArray().Single()!;
        Assert.Equal(42, (long)image["seed"]!);
        Assert.Equal((128, 128), ((int)image["width"]!, (int)image["height"]!));

        var response = await _client.GetAsync((string)image["url"]!);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        var png = PngReader.Read(await response.Content.ReadAsByteArrayAsync(), decodePixels: true);
        Assert.Equal((128, 128), (png.Width, png.Height));
        // The engine writes the text itself, with A1111's sampler name; the server adds one only to PNGs without it.
        Assert.Equal(
            $"a tiny red fox\nSteps: 2, Sampler: Euler, CFG scale: 1, Seed: 42, Size: 128x128, Model: {DemoName}, Weights: fp32",
            png.GetText("parameters"));
        // The pixels decode in full (8-bit RGB). What they show is the engine tests' business (DemoModelTests).
        Assert.Equal(128 * 128 * 3, png.Pixels!.Length);
    }

    [Fact]
    public async Task OpenAi_b64_json_returns_the_demo_models_png_inline()
    {
        var response = await _client.PostAsync("/v1/images/generations", Requests.Json(new
        {
            prompt = "a lighthouse", n = 1, size = "128x128", response_format = "b64_json", seed = 7, steps = 2,
        }));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var data = JsonNode.Parse(text)!["data"]!.AsArray();
        Assert.Null(data.Single()!["url"]);
        var png = PngReader.Read(Convert.FromBase64String((string)data[0]!["b64_json"]!));
        Assert.Equal((128, 128), (png.Width, png.Height));
        string parameters = png.GetText("parameters")!;
        Assert.StartsWith("a lighthouse\n", parameters);
        Assert.Contains($"Seed: 7, Size: 128x128, Model: {DemoName}", parameters);
    }

    [Fact]
    public async Task A1111_txt2img_returns_the_demo_models_image_and_info()
    {
        var response = await _client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new
        {
            prompt = "a castle", negative_prompt = "fog", width = 128, height = 96, steps = 2, seed = 1234, batch_size = 1, cfg_scale = 1,
        }));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var body = JsonNode.Parse(text)!;
        var png = PngReader.Read(Convert.FromBase64String((string)body["images"]!.AsArray().Single()!));
        Assert.Equal((128, 96), (png.Width, png.Height));
        var info = JsonNode.Parse((string)body["info"]!)!;
        Assert.Equal(1234, (long)info["seed"]!);
        Assert.StartsWith("a castle\nNegative prompt: fog\nSteps: 2", (string)info["infotexts"]![0]!);
        Assert.Contains($"Seed: 1234, Size: 128x96, Model: {DemoName}", png.GetText("parameters"));
    }

    [Fact]
    public async Task Plan_and_system_describe_the_cpu_and_the_demo_model()
    {
        var planResponse = await _client.PostAsync("/api/plan", Requests.Json(new { prompt = "p", width = 128, height = 128, steps = 2 }));
        Assert.Equal(HttpStatusCode.OK, planResponse.StatusCode);
        var plan = await planResponse.ReadJson();
        output.WriteLine(plan.ToJsonString());
        Assert.True((bool)plan["fits"]!);
        Assert.False(string.IsNullOrWhiteSpace((string)plan["summary"]!));
        Assert.NotEmpty(plan["phases"]!.AsArray());
        Assert.True((long)plan["predicted_peak_bytes"]! > 0);

        var system = await _client.GetFromJsonAsync<JsonNode>("/api/system");
        output.WriteLine(system!.ToJsonString());
        Assert.StartsWith("CPU", (string)system["device"]!);
        Assert.Empty(system["gpus"]!.AsArray());
        Assert.False(string.IsNullOrWhiteSpace((string)system["lib_torch"]!));
        var model = system["model"]!;
        Assert.Equal(DemoName, (string)model["name"]!);
        Assert.True((bool)model["is_demo"]!);
        Assert.Contains("tiny demo model", (string)model["description"]!);
        Assert.Equal(16, (int)model["limits"]!["size_multiple"]!);
        Assert.Equal(0, (int)system["queue"]!["depth"]!);
    }

    [Fact]
    public async Task A_size_the_model_cannot_draw_is_a_400_naming_the_field()
    {
        var problem = await (await _client.PostAsync("/api/jobs", Requests.Json(new { prompt = "p", width = 100, height = 128 })))
            .AssertProblem(HttpStatusCode.BadRequest);
        Assert.Contains("multiple of 16", (string)problem["errors"]!["width"]![0]!);
        var history = await _client.GetFromJsonAsync<JsonNode>("/api/jobs");
        Assert.Empty(history!["jobs"]!.AsArray());
    }

    [Fact]
    public async Task Cancelling_a_running_generation_ends_it_cancelled_and_the_next_job_succeeds()
    {
        var job = await _client.SubmitAsync(new { prompt = "a long one", width = 512, height = 512, steps = 100 });
        string id = (string)job["id"]!;
        // Cancel mid-denoise, once a step has been reported, so the engine's own token check is what stops it.
        var deadline = DateTime.UtcNow + Generous;
        JsonNode status;
        do
        {
            status = (await _client.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}"))!;
            Assert.True(DateTime.UtcNow < deadline, $"no denoise step within {Generous}: {status.ToJsonString()}");
            await Task.Delay(20);
        }
        while ((string?)status["progress"]?["phase"] != "denoise");

        var clock = Stopwatch.StartNew();
        var cancel = await _client.PostAsync($"/api/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var done = await _client.WaitForEndAsync(id, Generous);
        output.WriteLine($"cancelled at step {status["progress"]!["step"]} of 100; ended {clock.ElapsedMilliseconds} ms after the request");
        Assert.Equal("cancelled", (string)done["state"]!);
        Assert.Empty(done["images"]!.AsArray());

        var next = await _client.SubmitAsync(new { prompt = "after the cancel", width = 128, height = 128, steps = 2 });
        var after = await _client.WaitForEndAsync((string)next["id"]!, Generous);
        Assert.Equal("succeeded", (string)after["state"]!);
        Assert.Single(after["images"]!.AsArray());
    }

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task The_page_generates_with_the_demo_model_shows_progress_and_puts_the_image_in_the_gallery()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);

        await using var live = new ServerFactory();
        var address = tiny.ServeOnLoopback(live);
        await using var browser = await BrowserPage.OpenAsync();
        var page = browser.Page;

        await page.GotoAsync(address.ToString());
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync(DemoName);
        await Assertions.Expect(page.Locator("#demo-banner")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#demo-text")).ToContainTextAsync("tiny demo model");

        // The tiny model finishes a step in milliseconds, quicker than a poll may look: record every label the
        // progress line shows instead.
        await page.EvaluateAsync("""
            () => {
              window.progressLabels = [];
              const step = document.getElementById("progress-step");
              new MutationObserver(() => window.progressLabels.push(step.textContent))
                .observe(step, { childList: true, characterData: true, subtree: true });
            }
            """);
        await page.Locator("#prompt").FillAsync("a tiny lighthouse, demo noise");
        await page.Locator("#width").FillAsync("256");
        await page.Locator("#height").FillAsync("192");
        await page.Locator("#steps").FillAsync("6");
        await page.Locator("#generate").ClickAsync();

        await Assertions.Expect(page.Locator("#results img")).ToHaveCountAsync(1, new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in");
        var labels = await page.EvaluateAsync<string[]>("() => window.progressLabels");
        output.WriteLine($"progress labels: {string.Join(" | ", labels)}");
        // The stream starts with the latest step, so a step the tiny model finished before the page's EventSource
        // connected (a busy machine) is never shown; the last one always is.
        Assert.Contains(labels, l => l.StartsWith("Step ", StringComparison.Ordinal) && l != "Step 6 of 6");
        Assert.Contains("Step 6 of 6", labels);
        Assert.True(await page.Locator("#results img").EvaluateAsync<bool>("img => img.complete && img.naturalWidth === 256"),
            "the result image did not load at 256 px wide");

        var card = page.Locator(".card").First;
        await Assertions.Expect(card.Locator(".prompt")).ToHaveTextAsync("a tiny lighthouse, demo noise");
        await Assertions.Expect(card.Locator(".meta")).ToContainTextAsync("256×192 · 6 steps");
        await Assertions.Expect(card.Locator(".thumb img")).ToBeVisibleAsync();

        string screenshot = await browser.ScreenshotAsync("web-page-tiny-model.png", fullPage: true);
        output.WriteLine($"screenshot: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000);
        browser.AssertNoErrors();
    }

    private async Task<List<(string Name, JsonNode Data)>> ReadEventsAsync(string id)
    {
        using var timeout = new CancellationTokenSource(Generous);
        using var stream = await _client.GetStreamAsync($"/api/jobs/{id}/events", timeout.Token);
        using var reader = new StreamReader(stream);
        var events = new List<(string Name, JsonNode Data)>();
        string? name = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((name!, JsonNode.Parse(line[6..])!));
            if (events.Count > 0 && events[^1].Name == "done") break;
        }
        return events;
    }
}
