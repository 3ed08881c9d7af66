using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>Three servers in this process on one PostgreSQL database: jobs go to a worker whose card fits them, a
/// request no worker fits gets 422, and cancel and progress cross from node to node.</summary>
public sealed class FleetTests
{
    [SkippableFact]
    public async Task Jobs_go_to_a_worker_that_fits_them_and_one_that_fits_no_worker_online_gets_422()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        await using var small = await InProcessNode.StartAsync(db, "small", workers: 1, images, maxSide: 1024);
        await using var large = await InProcessNode.StartAsync(db, "large", workers: 1, images, maxSide: 2048);
        await using var api = await InProcessNode.StartAsync(db, "api", workers: 0, images);
        await WaitForFleetAsync(api.Http, workers: 2);

        var system = (await api.Http.GetFromJsonAsync<JsonNode>("/api/system"))!;
        var nodes = system["fleet"]!.AsArray().ToDictionary(n => (string)n!["name"]!, n => n!["workers"]!.AsArray());
        Assert.Equal(["api", "large", "small"], nodes.Keys.Order());
        Assert.Empty(nodes["api"]);
        Assert.Equal(2048L * 2048, (long)nodes["large"].Single()!["max_pixels"]!);
        Assert.Equal(1024L * 1024, (long)nodes["small"].Single()!["max_pixels"]!);
        Assert.Equal(2, (int)system["queue"]!["workers"]!);

        // Submitted to the node without a GPU: the 2048² job can only go to the large card.
        for (int i = 0; i < 3; i++)
        {
            string id = (string)(await api.Http.SubmitAsync(new { prompt = $"large {i}", width = 2048, height = 2048, steps = 2 }))["id"]!;
            var done = await api.Http.WaitForEndAsync(id, TimeSpan.FromSeconds(30));
            Assert.Equal("succeeded", (string)done["state"]!);
            // Images are on the shared folder: any node serves them.
            var png = await small.Http.GetAsync($"/api/jobs/{id}/images/0");
            Assert.Equal(HttpStatusCode.OK, png.StatusCode);
        }
        Assert.Equal(3, Enumerable.Range(0, 3).Sum(i => large.Generator.Completed($"large {i}")));
        Assert.Equal(0, Enumerable.Range(0, 3).Sum(i => small.Generator.Completed($"large {i}")));

        string fits = (string)(await small.Http.SubmitAsync(new { prompt = "medium", width = 1024, height = 1024, steps = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await api.Http.WaitForEndAsync(fits, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, small.Generator.Completed("medium") + large.Generator.Completed("medium"));

        // Larger than any card online: refused at once, with the reason, on every node.
        var refused = await api.Http.PostAsync("/api/jobs", Requests.Json(new { prompt = "too big", width = 4096, height = 4096, steps = 2 }));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        var problem = await refused.ReadJson();
        Assert.EndsWith("no-plan-fits", (string)problem["type"]!);
        string detail = (string)problem["detail"]!;
        Assert.Contains("fits no worker online", detail);
        Assert.DoesNotContain("..", detail); // the workers' reasons make one sentence
        Assert.DoesNotContain(".;", detail);
        // Each worker's own plan, made on the API node from the capacity that worker published.
        Assert.Contains("large/0", detail);
        Assert.Contains("small/0", detail);
        Assert.Equal(0, (int)(await db.ScalarAsync<long>("SELECT count(*) FROM zimage_jobs WHERE request LIKE '%too big%'")));
        TempFolder.Delete(images);
    }

    [SkippableFact]
    public async Task A_worker_passes_over_a_job_it_does_not_fit_while_the_worker_that_fits_it_is_busy()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        await using var small = await InProcessNode.StartAsync(db, "small", workers: 1, images, maxSide: 1024);
        await using var large = await InProcessNode.StartAsync(db, "large", workers: 1, images, maxSide: 2048);
        await WaitForFleetAsync(small.Http, workers: 2);
        large.Generator.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        string first = (string)(await small.Http.SubmitAsync(new { prompt = "first large", width = 2048, height = 2048, steps = 4 }))["id"]!;
        await small.Http.WaitForStateAsync(first, "running");
        string second = (string)(await small.Http.SubmitAsync(new { prompt = "second large", width = 2048, height = 2048, steps = 4 }))["id"]!;
        // Newer than the waiting 2048² job, and the only one the idle small card fits: it runs first.
        string medium = (string)(await small.Http.SubmitAsync(new { prompt = "medium", width = 1024, height = 1024, steps = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await small.Http.WaitForEndAsync(medium, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, small.Generator.Completed("medium"));
        Assert.Equal("queued", (string)(await small.Http.GetFromJsonAsync<JsonNode>($"/api/jobs/{second}"))!["state"]!);

        large.Generator.Hold.TrySetResult();
        Assert.Equal("succeeded", (string)(await small.Http.WaitForEndAsync(first, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal("succeeded", (string)(await small.Http.WaitForEndAsync(second, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, large.Generator.Completed("second large"));
        Assert.Equal(0, small.Generator.Completed("second large"));
        TempFolder.Delete(images);
    }

    [SkippableFact]
    public async Task Progress_reaches_a_watcher_on_a_node_without_workers_and_its_cancel_stops_the_worker()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        await using var worker = await InProcessNode.StartAsync(db, "gpu", workers: 1, images);
        await using var api = await InProcessNode.StartAsync(db, "api", workers: 0, images);
        await WaitForFleetAsync(api.Http, workers: 1);
        worker.Generator.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        string id = (string)(await api.Http.SubmitAsync(new { prompt = "held", width = 512, height = 512, steps = 6 }))["id"]!;
        using var stream = await api.Http.GetStreamAsync($"/api/jobs/{id}/events");
        using var reader = new StreamReader(stream);
        var events = new List<(string Name, JsonNode Data)>();
        string? name = null;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        bool cancelled = false;
        while (await reader.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = JsonNode.Parse(line[6..])!;
            events.Add((name!, data));
            if (name == "done") break;
            // The worker holds after its first denoising step: cancel through the API node, which has no worker.
            if (!cancelled && name == "progress" && (string?)data["phase"] == "denoise" && (int)data["step"]! == 1)
            {
                var cancel = await api.Http.PostAsync($"/api/jobs/{id}/cancel", null);
                Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
                cancelled = true;
            }
        }

        Assert.True(cancelled, "the watcher on the API node saw no denoising progress");
        Assert.Contains(events, e => e.Name == "state" && (string)e.Data["state"]! == "running");
        Assert.Contains(events, e => e.Name == "progress" && e.Data["preview"] is JsonValue);
        var (last, final) = events[^1];
        Assert.Equal("done", last);
        Assert.Equal("cancelled", (string)final["state"]!);
        Assert.Equal(1, worker.Generator.Cancelled);
        Assert.Equal(0, worker.Generator.Completed("held"));
        Assert.Equal("cancelled", (string)(await worker.Http.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}"))!["state"]!);
        TempFolder.Delete(images);
    }

    [SkippableFact]
    public async Task A_job_both_cards_fit_goes_to_the_much_faster_one_while_it_is_idle_and_to_the_other_while_it_is_busy()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        await using var slow = await InProcessNode.StartAsync(db, "slow", workers: 1, images, secondsPerStep: 1.0);
        await using var fast = await InProcessNode.StartAsync(db, "fast", workers: 1, images, secondsPerStep: 0.1);
        await using var api = await InProcessNode.StartAsync(db, "api", workers: 0, images);
        // Every node has seen both workers (each reads the fleet once a second).
        foreach (var node in new[] { api, slow, fast }) await WaitForFleetAsync(node.Http, workers: 2);

        for (int i = 0; i < 4; i++)
        {
            string id = (string)(await api.Http.SubmitAsync(new { prompt = $"either {i}", width = 1024, height = 1024, steps = 8 }))["id"]!;
            Assert.Equal("succeeded", (string)(await api.Http.WaitForEndAsync(id, TimeSpan.FromSeconds(30)))["state"]!);
        }
        Assert.Equal(4, Enumerable.Range(0, 4).Sum(i => fast.Generator.Completed($"either {i}")));

        fast.Generator.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string held = (string)(await api.Http.SubmitAsync(new { prompt = "held on fast", width = 1024, height = 1024, steps = 8 }))["id"]!;
        await api.Http.WaitForStateAsync(held, "running");
        // Busy is the database's word (a running job under a live lease), not a heartbeat's: no wait for one.
        string other = (string)(await api.Http.SubmitAsync(new { prompt = "while fast is busy", width = 1024, height = 1024, steps = 8 }))["id"]!;
        Assert.Equal("succeeded", (string)(await api.Http.WaitForEndAsync(other, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, slow.Generator.Completed("while fast is busy"));
        fast.Generator.Hold.TrySetResult();
        Assert.Equal("succeeded", (string)(await api.Http.WaitForEndAsync(held, TimeSpan.FromSeconds(30)))["state"]!);
        TempFolder.Delete(images);
    }

    [SkippableFact]
    public async Task A_preview_too_large_for_a_notify_reaches_a_watcher_on_another_node_through_the_store()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        var generator = new Mocks.FakeImageGenerator { PreviewSide = 128, StepDelay = TimeSpan.FromMilliseconds(50) };
        await using var worker = await InProcessNode.StartAsync(db, "gpu", workers: 1, images, generator);
        await using var api = await InProcessNode.StartAsync(db, "api", workers: 0, images);
        await WaitForFleetAsync(api.Http, workers: 1);

        string id = (string)(await api.Http.SubmitAsync(new { prompt = "large previews", width = 1024, height = 1024, steps = 4 }))["id"]!;
        using var stream = await api.Http.GetStreamAsync($"/api/jobs/{id}/events");
        using var reader = new StreamReader(stream);
        var previews = new Dictionary<int, string>();
        string? name = null;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await reader.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (name == "done") break;
            var data = JsonNode.Parse(line[6..])!;
            if (name == "progress" && (string?)data["phase"] == "denoise" && data["preview"] is JsonValue preview)
                previews[(int)data["step"]!] = (string)preview!;
        }

        // Every step's own preview, each far over NOTIFY's 8000 bytes, and none left in the store after the end.
        Assert.Equal([1, 2, 3, 4], previews.Keys.Order());
        Assert.Equal(4, previews.Values.Distinct().Count());
        Assert.All(previews.Values, p => Assert.True(p.Length > 8000, $"a {p.Length}-character preview"));
        var png = Convert.FromBase64String(previews[4]["data:image/png;base64,".Length..]);
        Assert.Equal((128, 128), (ZImageSharp.Imaging.PngReader.Read(png).Width, ZImageSharp.Imaging.PngReader.Read(png).Height));
        await Task.Delay(500);
        Assert.Equal(0, (int)await db.ScalarAsync<long>("SELECT count(*) FROM zimage_previews"));
        TempFolder.Delete(images);
    }

    internal static async Task WaitForFleetAsync(HttpClient http, int workers, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var system = await http.GetFromJsonAsync<JsonNode>("/api/system");
            if ((int)system!["queue"]!["workers"]! == workers) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The fleet has {system["queue"]!["workers"]} workers online, not {workers}.");
            await Task.Delay(100);
        }
    }
}
