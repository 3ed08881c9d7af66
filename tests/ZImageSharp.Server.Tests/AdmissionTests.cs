using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

public sealed class AdmissionTests
{
    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after_and_frees_up_when_jobs_run()
    {
        await using var server = new ServerFactory(configure: o => o.QueueCapacity = 2);
        server.Generator.Hold = new TaskCompletionSource();
        var client = server.CreateClient();
        var running = await client.SubmitAsync(new { prompt = "running", steps = 2 });
        await client.WaitForStateAsync((string)running["id"]!, "running");
        await client.SubmitAsync(new { prompt = "queued 1", steps = 2 });
        var second = await client.SubmitAsync(new { prompt = "queued 2", steps = 2 });
        Assert.Equal(2, (int)second["queue_position"]!);

        var refused = await client.PostAsync("/api/jobs", Requests.Json(new { prompt = "one too many" }));
        var problem = await refused.AssertProblem(HttpStatusCode.TooManyRequests);
        Assert.Equal("urn:zimagesharp:problem:queue-full", (string)problem["type"]!);
        Assert.Equal(2, (int)problem["queue_capacity"]!);
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 3600);
        // The synchronous APIs share the queue.
        await (await client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "x" }))).AssertProblem(HttpStatusCode.TooManyRequests);
        await (await client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "x" }))).AssertProblem(HttpStatusCode.TooManyRequests);

        server.Generator.Hold.SetResult();
        await client.WaitForEndAsync((string)second["id"]!);
        await client.SubmitAsync(new { prompt = "room again", steps = 1 });
        Assert.Equal(0, server.Generator.Started("one too many"));
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("zimage_requests_rejected_total{reason=\"queue_full\"} 3", metrics);
    }

    [Fact]
    public async Task A_request_no_plan_fits_is_refused_at_submission_with_422_and_the_largest_size_that_fits()
    {
        await using var server = new ServerFactory();
        server.Planner.MaxSide = 1024;
        var client = server.CreateClient();

        var response = await client.PostAsync("/api/jobs", Requests.Json(new { prompt = "too big", width = 2048, height = 1536 }));
        var problem = await response.AssertProblem(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("urn:zimagesharp:problem:no-plan-fits", (string)problem["type"]!);
        Assert.Equal(1024, (int)problem["largest_fitting_size"]!["width"]!);
        Assert.Equal(768, (int)problem["largest_fitting_size"]!["height"]!);
        Assert.Equal("denoise", (string)problem["phase"]!);
        string detail = (string)problem["detail"]!;
        Assert.Equal("A 2048x1536 request with 1 image(s) cannot run here: 2048x1536 does not fit 20.00 GiB: even at its leanest " +
                     "the denoise phase needs 64.00 GiB. The largest size that fits at this aspect ratio is 1024x768.", detail);
        Assert.Equal(0, server.Generator.TotalStarted);
        var history = await client.GetFromJsonAsync<JsonNode>("/api/jobs");
        Assert.Empty(history!["jobs"]!.AsArray());

        await (await client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "x", size = "2048x2048" })))
            .AssertProblem(HttpStatusCode.UnprocessableEntity);
        await (await client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "x", width = 2048, height = 2048 })))
            .AssertProblem(HttpStatusCode.UnprocessableEntity);
    }

    [Fact]
    public async Task Plan_reports_without_running_and_says_when_it_does_not_fit()
    {
        await using var server = new ServerFactory();
        server.Planner.MaxSide = 1024;
        var client = server.CreateClient();

        var fits = await (await client.PostAsync("/api/plan", Requests.Json(new { prompt = "p", width = 768, height = 768, steps = 8 }))).ReadJson();
        Assert.True((bool)fits["fits"]!);
        Assert.Equal(20L << 30, (long)fits["budget_bytes"]!);
        Assert.Equal(["encode", "denoise", "decode"], fits["phases"]!.AsArray().Select(p => (string)p!["phase"]!));
        Assert.Equal(0.8, (double)fits["phases"]![1]!["predicted_seconds"]!, 6);
        Assert.Null(fits["largest_fitting_size"]);

        var tooBig = await client.PostAsync("/api/plan", Requests.Json(new { prompt = "p", width = 4096, height = 2048 }));
        Assert.Equal(HttpStatusCode.OK, tooBig.StatusCode);
        var plan = await tooBig.ReadJson();
        Assert.False((bool)plan["fits"]!);
        Assert.Equal(1024, (int)plan["largest_fitting_size"]!["width"]!);
        Assert.Equal(512, (int)plan["largest_fitting_size"]!["height"]!);
        Assert.Equal(0, server.Generator.TotalStarted);
    }
}
