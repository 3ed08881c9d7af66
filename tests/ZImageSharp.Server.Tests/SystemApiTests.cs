using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

public sealed class SystemApiTests : ServerApiTests
{

    [Fact]
    public async Task System_reports_gpus_memory_libtorch_model_plan_and_queue()
    {
        var system = await Client.GetFromJsonAsync<JsonNode>("/api/system");
        Assert.Equal("cuda:0", (string)system!["device"]!);
        Assert.Equal("2.10.0+cu128 (fake)", (string)system["lib_torch"]!);
        var gpu = system["gpus"]![0]!;
        Assert.Equal("NVIDIA GeForce RTX 4090 (fake)", (string)gpu["name"]!);
        Assert.Equal(24L << 30, (long)gpu["total_bytes"]!);
        Assert.Equal(14L << 30, (long)gpu["free_bytes"]!);
        Assert.True((bool)system["model"]!["is_demo"]!);
        Assert.Contains("demo model", (string)system["model"]!["description"]!);
        Assert.Equal(16, (int)system["model"]!["limits"]!["size_multiple"]!);
        Assert.Contains("VAE decode tiled", (string)system["current_plan"]!);
        Assert.Equal(16, (int)system["queue"]!["capacity"]!);
        Assert.Equal(1, (int)system["queue"]!["workers"]!);
    }

    [Fact]
    public async Task Metrics_expose_queue_latency_phase_peaks_plans_and_oom_recoveries()
    {
        var job = await Client.SubmitAsync(new { prompt = "metrics", steps = 2 });
        await Client.WaitForEndAsync((string)job["id"]!);
        var response = await Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Contains("zimage_queue_depth 0", text);
        Assert.Contains("zimage_jobs_running 0", text);
        Assert.Contains("zimage_job_duration_seconds_count{outcome=\"succeeded\"} 1", text);
        Assert.Contains("zimage_job_latency_seconds_bucket{outcome=\"succeeded\",le=\"+Inf\"} 1", text);
        Assert.Contains("zimage_job_queue_wait_seconds_count 1", text);
        Assert.Contains($"zimage_phase_peak_bytes{{phase=\"denoise\"}} {9L << 30}", text);
        Assert.Contains($"zimage_phase_last_peak_bytes{{phase=\"decode\"}} {5L << 30}", text);
        Assert.Contains("zimage_plans_chosen_total{plan=\"resident bf16 (fake)\"} 1", text);
        Assert.Contains("zimage_jobs_by_weights_total{weights=\"bf16\"} 1", text);
        Assert.Contains("zimage_oom_recoveries_total 0", text);
        Assert.Contains("zimage_jobs_total{outcome=\"succeeded\"} 1", text);
    }

    [Fact]
    public async Task Health_live_and_ready()
    {
        var live = await Client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("Healthy", await live.Content.ReadAsStringAsync());
        await Requests.Eventually(() => Client.GetAsync("/health/ready").Result.StatusCode == HttpStatusCode.OK, "ready");
    }

    [Fact]
    public async Task OpenApi_document_describes_the_native_api()
    {
        var document = await Client.GetFromJsonAsync<JsonNode>("/openapi/v1.json");
        Assert.StartsWith("3.", (string)document!["openapi"]!);
        Assert.Equal("ZImageSharp", (string)document["info"]!["title"]!);
        var paths = document["paths"]!.AsObject();
        foreach (var path in new[] { "/api/jobs", "/api/jobs/{id}", "/api/jobs/{id}/events", "/api/jobs/{id}/cancel",
                     "/api/jobs/{id}/images/{index}", "/api/plan", "/api/system", "/v1/images/generations", "/sdapi/v1/txt2img" })
            Assert.True(paths.ContainsKey(path), $"OpenAPI lacks {path}: {string.Join(", ", paths.Select(p => p.Key))}");
        Assert.NotNull(paths["/api/jobs"]!["post"]!["requestBody"]);
        Assert.NotNull(paths["/api/jobs"]!["post"]!["responses"]!["202"]);
        Assert.NotNull(paths["/api/jobs"]!["post"]!["responses"]!["429"]);
        string schemas = document["components"]!["schemas"]!.ToJsonString();
        Assert.Contains("negative_prompt", schemas);
        Assert.Contains("queue_position", schemas);
    }

    [Fact]
    public async Task The_page_and_its_assets_are_served_from_the_assembly_with_nothing_external()
    {
        var page = await Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        string html = await page.Content.ReadAsStringAsync();
        foreach (string asset in new[] { "/app.js", "/app.css", "/favicon.svg" })
        {
            Assert.Contains($"\"{asset}\"", html);
            var response = await Client.GetAsync(asset);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            string text = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("https://", text);
        }
        Assert.DoesNotContain("https://", html);

        var again = new HttpRequestMessage(HttpMethod.Get, "/app.js");
        again.Headers.IfNoneMatch.Add(page.Headers.ETag is null
            ? (await Client.GetAsync("/app.js")).Headers.ETag!
            : (await Client.GetAsync("/app.js")).Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await Client.SendAsync(again)).StatusCode);
    }
}
