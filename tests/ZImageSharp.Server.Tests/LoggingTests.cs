using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>What the default log level shows: one line per request, one per finished job, nothing of the framework's
/// own bookkeeping.</summary>
public sealed partial class LoggingTests
{
    private const string RequestCategory = "ZImageSharp.Server.Requests";

    [GeneratedRegex(@"^(GET|POST|PUT|DELETE) /\S* [1-5]\d\d( [a-z_]+)? in \d+\.\d ms$")]
    private static partial Regex RequestLine();

    [Fact]
    public async Task Each_request_logs_one_line_with_method_path_status_and_time()
    {
        await using var server = new ServerFactory();
        var client = server.CreateClient();
        await Requests.Eventually(() => client.GetAsync("/health/ready").Result.StatusCode == HttpStatusCode.OK, "ready");
        await Task.Delay(100);
        int start = server.Logs.Lines.Count;

        const int rounds = 5;
        var requests = new Func<Task<HttpResponseMessage>>[]
        {
            () => client.GetAsync("/"),
            () => client.GetAsync("/app.js"),
            () => client.GetAsync("/api/jobs"),
            () => client.GetAsync("/api/jobs/nope"),
            () => client.PostAsync("/api/jobs", Requests.Json(new { prompt = "x", steps = 0 })),
            () => client.PostAsync("/api/plan", Requests.Json(new { prompt = "plan" })),
            () => client.PutAsync("/api/jobs", null),
            () => client.GetAsync("/no/such/route"),
            () => client.GetAsync("/openapi/v1.json"),
        };
        for (int round = 0; round < rounds; round++)
        {
            foreach (var request in requests) await request();
            // Polled by machines every few seconds: their successful answers log at Debug only.
            await client.GetAsync("/metrics");
            await client.GetAsync("/api/system");
            await client.GetAsync("/health/live");
            await client.GetAsync("/sdapi/v1/progress");
        }

        int expected = rounds * requests.Length;
        await Requests.Eventually(() => server.Logs.Lines.Count - start >= expected, $"{expected} request lines are logged");
        await Task.Delay(200);
        var lines = server.Logs.Lines.Skip(start).ToList();
        string all = string.Join("\n", lines.Select(l => $"{l.Level} {l.Category}: {l.Message}"));
        Assert.True(expected == lines.Count, $"{lines.Count} lines for {expected} requests:\n{all}");
        Assert.All(lines, l => Assert.Equal(RequestCategory, l.Category));
        Assert.All(lines, l => Assert.Matches(RequestLine(), l.Message));
        Assert.Contains(lines, l => l.Message.StartsWith("GET /api/jobs/nope 404 not_found in ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Message.StartsWith("POST /api/jobs 400 invalid_request in ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Message.StartsWith("PUT /api/jobs 405 method_not_allowed in ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Message.StartsWith("GET /api/jobs 200 in ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_job_logs_one_line_when_it_ends_and_a_failure_names_the_job_the_phase_and_the_code()
    {
        await using var server = new ServerFactory();
        server.Generator.Failure = r => r.Prompt switch
        {
            "gone" => new ZImageSharp.Errors.DeviceUnavailableException("CUDA device 0 fell off the bus.", "Check the driver."),
            "bug" => new InvalidOperationException("null reference deep inside"),
            _ => null,
        };
        var client = server.CreateClient();
        await Requests.Eventually(() => client.GetAsync("/health/ready").Result.StatusCode == HttpStatusCode.OK, "ready");
        await Task.Delay(100);
        int start = server.Logs.Lines.Count;

        var ids = new List<string>();
        foreach (string prompt in new[] { "fine", "gone", "bug" })
        {
            var job = await client.SubmitAsync(new { prompt, steps = 2 });
            ids.Add((string)job["id"]!);
            await client.WaitForEndAsync(ids[^1]);
        }
        await Task.Delay(200);

        var lines = server.Logs.Lines.Skip(start).ToList();
        var jobLines = lines.Where(l => l.Category != RequestCategory).ToList();
        string all = string.Join("\n", jobLines.Select(l => $"{l.Level} {l.Category}: {l.Message}"));
        Assert.True(jobLines.Count == 3, $"{jobLines.Count} job lines for 3 jobs:\n{all}");
        Assert.StartsWith($"Job {ids[0]} succeeded in ", jobLines[0].Message);
        Assert.Equal(LogLevel.Warning, jobLines[1].Level);
        Assert.StartsWith($"Job {ids[1]} failed in phase denoise (device_unavailable): CUDA device 0 fell off the bus.", jobLines[1].Message);
        Assert.Equal(LogLevel.Error, jobLines[2].Level);
        Assert.StartsWith($"Job {ids[2]} failed in phase denoise (internal): ", jobLines[2].Message);
        Assert.Contains("InvalidOperationException", jobLines[2].Message);
        Assert.Equal(3, lines.Count(l => l.Category == RequestCategory && l.Message.StartsWith("POST /api/jobs 202 in ", StringComparison.Ordinal)));
    }
}
