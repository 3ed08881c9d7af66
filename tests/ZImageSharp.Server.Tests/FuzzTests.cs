using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Random and malformed bodies against every endpoint that reads one, and every route with every method and
/// odd Accept headers: never a 5xx, and every refusal is problem+json. Seeded, so a failure reproduces.</summary>
public sealed class FuzzTests
{
    private static readonly string[] Endpoints = ["/api/jobs", "/api/plan", "/v1/images/generations", "/sdapi/v1/txt2img", "/sdapi/v1/options"];

    private static readonly string[] Fields =
    [
        "prompt", "negative_prompt", "width", "height", "steps", "seed", "count", "guidance_scale", "cfg_truncation",
        "cfg_normalization", "shift", "sampler", "n", "size", "response_format", "batch_size", "n_iter", "cfg_scale",
        "sampler_name", "sampler_index", "model", "", "\u0000", "__proto__", "🦊",
    ];

    [Fact]
    public async Task Random_bodies_never_get_a_5xx()
    {
        await using var server = new ServerFactory(configure: o =>
        {
            o.QueueCapacity = 4;
            o.MaxRequestBodyBytes = 64 * 1024;
            o.SyncTimeoutSeconds = 5;
        });
        server.Generator.StepDelay = TimeSpan.Zero;
        var client = server.CreateClient();
        var random = new Random(20260501);
        var statuses = new Dictionary<int, int>();
        const int cases = 1000;
        for (int i = 0; i < cases; i++)
        {
            string endpoint = Endpoints[random.Next(Endpoints.Length)];
            var content = new ByteArrayContent(Body(random));
            content.Headers.ContentType = random.Next(10) == 0 ? new MediaTypeHeaderValue("text/plain") : new MediaTypeHeaderValue("application/json");
            var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content };
            // An EventSource, an <img> or a browser navigation must get its refusal as problem+json too.
            if (random.Next(4) == 0) request.Headers.TryAddWithoutValidation("Accept", Accepts[random.Next(Accepts.Length)]);
            var response = await client.SendAsync(request);
            int status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            if (status >= 500)
                Assert.Fail($"Case {i}: {endpoint} answered {status} to {Encoding.UTF8.GetString(await content.ReadAsByteArrayAsync())}: " +
                            await response.Content.ReadAsStringAsync());
            if (status >= 400)
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
        // The run exercised refusals and acceptances alike.
        Assert.True(statuses.GetValueOrDefault(400) > cases / 3, string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}")));
        Assert.True(statuses.GetValueOrDefault(200) + statuses.GetValueOrDefault(202) > 50, string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}")));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task Every_route_and_method_answers_an_event_stream_client_without_a_5xx()
    {
        await using var server = new ServerFactory(configure: o =>
        {
            o.QueueCapacity = 4;
            o.SyncTimeoutSeconds = 5;
        });
        server.Generator.StepDelay = TimeSpan.Zero;
        var client = server.CreateClient();
        var routes = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.Trim('/'))
            .Concat(["/no/such/route", "/api/jobs/{id}/nope", "/api", "/sdapi/v1/{id}"])
            .Distinct()
            .ToList();
        var methods = new[] { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE" };
        var random = new Random(20261201);
        // Finished jobs' ids (DELETE removes some as it goes), an unknown one, or junk, wherever a route takes a parameter.
        var values = new List<string> { "0197a1c4e2f37c2a9d1f0e5b8a7c6d5e", "nope", "0", "-1", "%C3%A9%20x", new string('9', 300), "..%2F..%2Fetc" };
        for (int i = 0; i < 8; i++)
        {
            var finished = await client.SubmitAsync(new { prompt = "finished", steps = 1 });
            values.Add((string)(await client.WaitForEndAsync((string)finished["id"]!))["id"]!);
        }
        var statuses = new Dictionary<int, int>();
        int cases = 0;
        foreach (string route in routes)
        foreach (string method in methods)
        for (int repeat = 0; repeat < 3; repeat++)
        {
            string path = Regex.Replace(route, @"\{[^}]+\}", _ => values[random.Next(values.Count)]);
            var request = new HttpRequestMessage(new HttpMethod(method), path);
            request.Headers.TryAddWithoutValidation("Accept", repeat == 0 ? "text/event-stream" : Accepts[random.Next(Accepts.Length)]);
            if (method is "POST" or "PUT" or "PATCH" && random.Next(3) > 0)
            {
                request.Content = new ByteArrayContent(Body(random));
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var response = await client.SendAsync(request, timeout.Token);
            int status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            cases++;
            string accept = string.Join(",", request.Headers.Accept);
            if (status >= 500)
                Assert.Fail($"{method} {path} (Accept: {accept}) answered {status}: {await response.Content.ReadAsStringAsync()}");
            if (status >= 400 && method != "HEAD")
                Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
                    $"{method} {path} (Accept: {accept}) answered {status} as {response.Content.Headers.ContentType}");
        }
        string summary = string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"));
        Assert.True(statuses.GetValueOrDefault(404) > 20, summary);
        Assert.True(statuses.GetValueOrDefault(405) > cases / 3, summary);
        Assert.True(statuses.GetValueOrDefault(200) > 20, summary);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
    }

    private static readonly string[] Accepts =
        ["text/event-stream", "image/png", "text/html", "text/plain", "*/*", "application/xml", "text/event-stream;q=1, */*;q=0", "garbage;;"];

    private static byte[] Body(Random random) => random.Next(8) switch
    {
        0 => RandomBytes(random),
        1 => Encoding.UTF8.GetBytes(Truncate(random, ValidJson(random))),
        2 => Encoding.UTF8.GetBytes(Nested(random, random.Next(1, 80))),
        3 => Encoding.UTF8.GetBytes(Value(random, 0)),
        _ => Encoding.UTF8.GetBytes(ValidJson(random)),
    };

    private static string ValidJson(Random random)
    {
        var builder = new StringBuilder("{");
        // Usually a real prompt, so that many bodies get past the first check and reach the deeper ones.
        if (random.Next(3) > 0) builder.Append("\"prompt\":").Append(Text(random)).Append(',');
        int count = random.Next(0, 8);
        for (int i = 0; i < count; i++)
        {
            builder.Append(Quote(Fields[random.Next(Fields.Length)])).Append(':').Append(Value(random, 0));
            builder.Append(',');
        }
        if (builder[^1] == ',') builder.Length--;
        return builder.Append('}').ToString();
    }

    private static string Value(Random random, int depth) => random.Next(depth > 2 ? 9 : 11) switch
    {
        0 => "null",
        1 => random.Next(2) == 0 ? "true" : "false",
        2 => random.Next(-3, 2000).ToString(),
        3 => (random.Next(4, 130) * 16).ToString(),
        4 => new[] { "1e309", "-1e309", "99999999999999999999999", "-0", "1.5", "1e-400", "4096.0", "-9223372036854775809", "NaN" }[random.Next(9)],
        5 => Text(random),
        6 => Quote(new[] { "512x512", "auto", "1024X768", "x", "b64_json", "url", "Euler", "euler", "-1" }[random.Next(9)]),
        7 => random.Next(1 << 30).ToString(),
        8 => Quote(new string('w', random.Next(0, 70_000))),
        9 => "[" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => Value(random, depth + 1))) + "]",
        _ => "{" + string.Join(",", Enumerable.Range(0, random.Next(3)).Select(_ => Quote(Fields[random.Next(Fields.Length)]) + ":" + Value(random, depth + 1))) + "}",
    };

    private static string Text(Random random) => random.Next(6) switch
    {
        0 => "\"a fox in the snow\"",
        1 => "\"雪の中の狐 🦊 ͡° ͜ʖ ͡°\"",
        2 => "\"\\ud83e\\udd8a escaped pair\"",
        3 => "\"\\udc00 lone low surrogate\"",
        4 => "\"control \\u0000 \\u001f chars\"",
        _ => Quote(new string((char)random.Next(0x20, 0x7e), random.Next(0, 9000))),
    };

    private static string Nested(Random random, int depth) =>
        random.Next(2) == 0 ? "{\"prompt\":" + new string('[', depth) + new string(']', depth) + "}" : new string('{', depth);

    private static string Truncate(Random random, string json) => json[..random.Next(json.Length)];

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 300)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text);
}
