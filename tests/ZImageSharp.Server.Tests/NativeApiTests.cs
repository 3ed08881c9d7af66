using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

public sealed class NativeApiTests : ServerApiTests
{

    [Fact]
    public async Task Submit_answers_202_and_the_job_ends_with_pngs_that_carry_their_parameters()
    {
        var response = await Client.PostAsync("/api/jobs", Requests.Json(new
        {
            prompt = "a red fox, 雪, 🦊",
            negative_prompt = "blurry",
            width = 512,
            height = 768,
            steps = 4,
            seed = 42,
            count = 2,
        }));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var submitted = await response.ReadJson();
        string id = (string)submitted["id"]!;
        Assert.Equal($"/api/jobs/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(32, id.Length);
        Assert.Equal(42, (long)submitted["request"]!["seed"]!);

        var done = await Client.WaitForEndAsync(id);
        Assert.Equal("succeeded", (string)done["state"]!);
        Assert.Equal(1, (int)done["attempt"]!);
        Assert.Equal("resident bf16 (fake)", (string)done["plan_summary"]!);
        Assert.Equal("bf16", (string)done["weights"]!); // the job record says what precision the weights ran in
        var images = done["images"]!.AsArray();
        Assert.Equal(2, images.Count);
        Assert.Equal([42L, 43L], images.Select(i => (long)i!["seed"]!));

        var png = await Client.GetByteArrayAsync((string)images[1]!["url"]!);
        string? parameters = PngReader.Read(png).GetText("parameters");
        Assert.Equal(
            "a red fox, 雪, 🦊\nNegative prompt: blurry\nSteps: 4, Sampler: Euler, CFG scale: 1, Seed: 43, Size: 512x768, Model: fake-tiny, Weights: bf16",
            parameters);
        Assert.Equal(43, ImageParameters.FromPng(PngReader.Read(png))!.Seed); // the JSON chunk travels with it
        Assert.Equal(1, Server.Generator.Completed("a red fox, 雪, 🦊"));
    }

    [Fact]
    public async Task A_missing_seed_is_drawn_at_submission_and_stored()
    {
        var job = await Client.SubmitAsync(new { prompt = "random seed", steps = 1 });
        long seed = (long)job["request"]!["seed"]!;
        Assert.InRange(seed, 0, uint.MaxValue);
        var done = await Client.WaitForEndAsync((string)job["id"]!);
        Assert.Equal(seed, (long)done["images"]![0]!["seed"]!);
    }

    [Fact]
    public async Task Events_stream_state_then_progress_per_step_with_eta_and_preview_then_done()
    {
        // A blocker keeps the job queued until the stream is open, so that every step is seen.
        Server.Generator.Hold = new TaskCompletionSource();
        var blocker = await Client.SubmitAsync(new { prompt = "blocker", steps = 2 });
        await Client.WaitForStateAsync((string)blocker["id"]!, "running");
        var job = await Client.SubmitAsync(new { prompt = "events", steps = 5, width = 256, height = 256 });
        string id = (string)job["id"]!;

        using var stream = await Client.GetStreamAsync($"/api/jobs/{id}/events");
        using var reader = new StreamReader(stream);
        Server.Generator.Hold.SetResult();
        var events = new List<(string Name, JsonNode Data)>();
        string? name = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((name!, JsonNode.Parse(line[6..])!));
            if (name == "done" && events.Count > 0 && events[^1].Name == "done") break;
        }

        Assert.Equal("state", events[0].Name);
        Assert.Equal("queued", (string)events[0].Data["state"]!);
        Assert.Contains(events, e => e.Name == "state" && (string)e.Data["state"]! == "running");
        Assert.Equal("done", events[^1].Name);
        Assert.Equal("succeeded", (string)events[^1].Data["state"]!);
        var steps = events.Where(e => e.Name == "progress" && (string)e.Data["phase"]! == "denoise").Select(e => e.Data).ToList();
        // Every step arrives (a watcher that keeps up loses nothing), in order, with an ETA and a preview.
        Assert.Equal([1, 2, 3, 4, 5], steps.Select(s => (int)s["step"]!).Distinct());
        Assert.All(steps, s => Assert.Equal(5, (int)s["total_steps"]!));
        Assert.All(steps, s => Assert.NotNull(s["eta_seconds"]));
        Assert.Equal(0, (double)steps[^1]["eta_seconds"]!, 3);
        Assert.All(steps, s => Assert.StartsWith("data:image/png;base64,", (string)s["preview"]!));
        var preview = Convert.FromBase64String(((string)steps[0]["preview"]!)["data:image/png;base64,".Length..]);
        var previewInfo = PngReader.Read(preview);
        Assert.Equal((16, 16), (previewInfo.Width, previewInfo.Height));
        Assert.True((double)steps[^1]["fraction"]! > (double)steps[0]["fraction"]!);
    }

    [Fact]
    public async Task Events_of_a_finished_job_are_just_done()
    {
        var job = await Client.SubmitAsync(new { prompt = "finished", steps = 1 });
        await Client.WaitForEndAsync((string)job["id"]!);
        string text = await Client.GetStringAsync($"/api/jobs/{job["id"]}/events");
        Assert.StartsWith("event: done\ndata: {", text);
    }

    [Fact]
    public async Task Cancelling_a_queued_job_removes_it_and_it_never_runs()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        var running = await Client.SubmitAsync(new { prompt = "blocker", steps = 2 });
        await Client.WaitForStateAsync((string)running["id"]!, "running");
        var queued = await Client.SubmitAsync(new { prompt = "never runs", steps = 2 });
        Assert.Equal(1, (int)queued["queue_position"]!);

        var cancel = await Client.PostAsync($"/api/jobs/{queued["id"]}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", (string)(await cancel.ReadJson())["state"]!);

        Server.Generator.Hold.SetResult();
        await Client.WaitForEndAsync((string)running["id"]!);
        Assert.Equal(0, Server.Generator.Started("never runs"));
        Assert.Equal("cancelled", (string)(await Client.GetFromJsonAsync<JsonNode>($"/api/jobs/{queued["id"]}"))!["state"]!);
        // Cancelling again is harmless; cancelling a finished job is a conflict.
        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync($"/api/jobs/{queued["id"]}/cancel", null)).StatusCode);
        await (await Client.PostAsync($"/api/jobs/{running["id"]}/cancel", null)).AssertProblem(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Cancelling_a_running_job_cancels_the_generators_token()
    {
        Server.Generator.Hold = new TaskCompletionSource(); // never released: only cancellation ends the job
        var job = await Client.SubmitAsync(new { prompt = "cancel me", steps = 8 });
        string id = (string)job["id"]!;
        await Client.WaitForStateAsync(id, "running");

        var cancel = await Client.PostAsync($"/api/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var done = await Client.WaitForEndAsync(id);
        Assert.Equal("cancelled", (string)done["state"]!);
        Assert.Equal(1, Server.Generator.Cancelled);
        Assert.Equal(0, Server.Generator.Completed("cancel me"));
        Assert.Empty(done["images"]!.AsArray());
    }

    [Fact]
    public async Task History_lists_newest_first_pages_filters_and_deletes()
    {
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            var job = await Client.SubmitAsync(new { prompt = $"history {i}", steps = 1 });
            ids.Add((string)job["id"]!);
            await Client.WaitForEndAsync(ids[^1]);
        }

        var first = await Client.GetFromJsonAsync<JsonNode>("/api/jobs?limit=3");
        Assert.Equal([ids[4], ids[3], ids[2]], first!["jobs"]!.AsArray().Select(j => (string)j!["id"]!));
        var second = await Client.GetFromJsonAsync<JsonNode>($"/api/jobs?limit=3&before={first["next_before"]}");
        Assert.Equal([ids[1], ids[0]], second!["jobs"]!.AsArray().Select(j => (string)j!["id"]!));
        Assert.Null(second["next_before"]);
        var succeeded = await Client.GetFromJsonAsync<JsonNode>("/api/jobs?state=succeeded&limit=100");
        Assert.Equal(5, succeeded!["jobs"]!.AsArray().Count);

        string imageUrl = (string)first["jobs"]![0]!["images"]![0]!["url"]!;
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/api/jobs/{ids[4]}")).StatusCode);
        await (await Client.GetAsync($"/api/jobs/{ids[4]}")).AssertProblem(HttpStatusCode.NotFound);
        await (await Client.GetAsync(imageUrl)).AssertProblem(HttpStatusCode.NotFound);
        Assert.False(File.Exists(Path.Combine(Server.DataDirectory, "images", $"{ids[4]}-0.png")));
        await (await Client.DeleteAsync($"/api/jobs/{ids[4]}")).AssertProblem(HttpStatusCode.NotFound);

        var badQuery = await (await Client.GetAsync("/api/jobs?limit=abc&state=done")).AssertProblem(HttpStatusCode.BadRequest);
        Assert.NotNull(badQuery["errors"]!["limit"]);
        Assert.NotNull(badQuery["errors"]!["state"]);
    }

    [Fact]
    public async Task Deleting_a_running_job_is_a_conflict_that_says_to_cancel_first()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        var job = await Client.SubmitAsync(new { prompt = "busy", steps = 2 });
        string id = (string)job["id"]!;
        await Client.WaitForStateAsync(id, "running");
        var problem = await (await Client.DeleteAsync($"/api/jobs/{id}")).AssertProblem(HttpStatusCode.Conflict);
        Assert.Contains("cancel it first", (string)problem["detail"]!);
        Server.Generator.Hold.SetResult();
        await Client.WaitForEndAsync(id);
    }

    [Fact]
    public async Task Unknown_jobs_and_images_are_404_problems()
    {
        var problem = await (await Client.GetAsync("/api/jobs/nope")).AssertProblem(HttpStatusCode.NotFound);
        Assert.Equal("urn:zimagesharp:problem:not-found", (string)problem["type"]!);
        await (await Client.GetAsync("/api/jobs/nope/events")).AssertProblem(HttpStatusCode.NotFound);
        await (await Client.PostAsync("/api/jobs/nope/cancel", null)).AssertProblem(HttpStatusCode.NotFound);

        var job = await Client.SubmitAsync(new { prompt = "one image", steps = 1 });
        await Client.WaitForEndAsync((string)job["id"]!);
        await (await Client.GetAsync($"/api/jobs/{job["id"]}/images/1")).AssertProblem(HttpStatusCode.NotFound);
        await (await Client.GetAsync($"/api/jobs/{job["id"]}/images/x")).AssertProblem(HttpStatusCode.NotFound);
        await (await Client.GetAsync("/no/such/page")).AssertProblem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_engine_failure_fails_the_job_with_its_code_and_phase_and_logs_the_phase()
    {
        Server.Generator.Failure = r => r.Prompt == "explode"
            ? new ZImageSharp.Errors.DeviceUnavailableException("CUDA device 0 fell off the bus.", "Check the driver.")
            : null;
        var job = await Client.SubmitAsync(new { prompt = "explode", steps = 2 });
        var done = await Client.WaitForEndAsync((string)job["id"]!);
        Assert.Equal("failed", (string)done["state"]!);
        Assert.Equal("device_unavailable", (string)done["error"]!["code"]!);
        Assert.Equal("denoise", (string)done["error"]!["phase"]!);
        Assert.Contains(Server.Logs.Lines, l => l.Message.Contains($"Job {job["id"]} failed in phase denoise (device_unavailable)"));

        Server.Generator.Failure = r => r.Prompt == "bug" ? new InvalidOperationException("null reference deep inside") : null;
        job = await Client.SubmitAsync(new { prompt = "bug", steps = 2 });
        done = await Client.WaitForEndAsync((string)job["id"]!);
        Assert.Equal("internal", (string)done["error"]!["code"]!);
        Assert.DoesNotContain("null reference", (string)done["error"]!["message"]!);
        Assert.Contains(Server.Logs.Lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Error && l.Message.Contains("failed in phase denoise"));
    }
}
