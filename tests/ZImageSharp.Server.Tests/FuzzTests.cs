using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Random and malformed bodies against every endpoint that reads one: never a 5xx, and every refusal is
/// problem+json. Seeded, so a failure reproduces.</summary>
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
            var response = await client.PostAsync(endpoint, content);
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
