using System.Net;
using System.Text;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Every client mistake is a 400 problem+json that names the field and says what is allowed.</summary>
public sealed class ValidationTests(ValidationTests.Server server) : IClassFixture<ValidationTests.Server>
{
    public sealed class Server : IAsyncLifetime
    {
        public ServerFactory Factory { get; } = new(configure: o => o.MaxRequestBodyBytes = 4096);
        public HttpClient Client { get; private set; } = null!;

        public Task InitializeAsync()
        {
            Client = Factory.CreateClient();
            return Task.CompletedTask;
        }

        public async Task DisposeAsync() => await Factory.DisposeAsync();
    }

    public static TheoryData<string, string, string, string> Cases => new()
    {
        // endpoint, body, field, a phrase the message must contain
        { "/api/jobs", """{"prompt":"x","width":1000}""", "width", "multiple of 16 between 64 and 4096 (got 1000)" },
        { "/api/jobs", """{"prompt":"x","width":8192}""", "width", "between 64 and 4096 (got 8192)" },
        { "/api/jobs", """{"prompt":"x","height":0}""", "height", "(got 0)" },
        { "/api/jobs", """{"prompt":"x","width":"wide"}""", "width", "must be an integer multiple of 16 between 64 and 4096 (got the string \"wide\")" },
        { "/api/jobs", """{"prompt":"x","width":512.5}""", "width", "(got the number 512.5)" },
        { "/api/jobs", """{"prompt":"x","width":1e30}""", "width", "an integer multiple of 16" },
        { "/api/jobs", """{"prompt":"x","steps":0}""", "steps", "between 1 and 100 (got 0)" },
        { "/api/jobs", """{"prompt":"x","steps":101}""", "steps", "between 1 and 100 (got 101)" },
        { "/api/jobs", """{"prompt":"x","steps":[8]}""", "steps", "(got an array)" },
        { "/api/jobs", """{"prompt":"x","seed":-5}""", "seed", "between 0 and 9223372036854775807" },
        { "/api/jobs", """{"prompt":"x","seed":99999999999999999999999}""", "seed", "or null for a random seed" },
        { "/api/jobs", """{"prompt":"x","count":0}""", "count", "between 1 and 8 (got 0)" },
        { "/api/jobs", """{"prompt":"x","count":9}""", "count", "between 1 and 8 (got 9)" },
        { "/api/jobs", """{"prompt":"x","sampler":"ddim"}""", "sampler", "must be one of: euler, euler_ancestral, res_multistep, dpmpp_2m, lcm (got 'ddim')" },
        { "/api/jobs", """{"prompt":"x","scheduler":"exponential"}""", "scheduler", "must be one of: simple, beta, karras (got 'exponential')" },
        { "/api/jobs", """{"prompt":"x","scheduler":3}""", "scheduler", "must be one of: simple, beta, karras (got the number 3)" },
        { "/api/jobs", """{"prompt":"x","guidance_scale":1e300}""", "guidance_scale", "a number between 0 (guidance off) and 30" },
        { "/api/jobs", """{"prompt":"x","guidance_scale":-1}""", "guidance_scale", "between 0 and 30" },
        { "/api/jobs", """{"prompt":"x","shift":0}""", "shift", "above 0" },
        { "/api/jobs", """{"prompt":"x","negative_promt":"typo"}""", "negative_promt", "is not a field of this API; the fields are: prompt, negative_prompt" },
        { "/api/jobs", """{"width":512}""", "prompt", "is required" },
        { "/api/jobs", """{"prompt":42}""", "prompt", "a string of at most 8192 characters (got the number 42)" },
        { "/api/jobs", """{"prompt":"x",""", "body", "must be valid JSON" },
        { "/api/jobs", """{'prompt':'x'}""", "body", "must be valid JSON" },
        { "/api/jobs", "", "body", "got an empty body" },
        { "/api/jobs", """["prompt"]""", "body", "must be a JSON object (got an array)" },
        { "/api/jobs", "\"just a string\"", "body", "must be a JSON object" },
        { "/api/jobs", """{"prompt":"\ud800"}""", "body", "unpaired UTF-16 surrogate" },
        { "/api/jobs", "{\"prompt\":\"" + new string('a', 5000) + "\"}", "body", "must be at most 4096 bytes" },
        { "/api/plan", """{"prompt":"x","width":100}""", "width", "multiple of 16" },
        { "/v1/images/generations", """{"prompt":"x","size":"big"}""", "size", "\"WIDTHxHEIGHT\"" },
        { "/v1/images/generations", """{"prompt":"x","size":"1000x1000"}""", "size", "(got \"1000x1000\")" },
        { "/v1/images/generations", """{"prompt":"x","stream":true,"partial_images":4}""", "partial_images", "must be an integer between 0 and 3" },
        { "/v1/images/generations", """{"prompt":"x","n":0}""", "n", "between 1 and 8" },
        { "/v1/images/generations", """{"prompt":"x","response_format":"jpeg"}""", "response_format", "\"b64_json\" or \"url\"" },
        { "/v1/images/generations", """{"size":"512x512"}""", "prompt", "is required" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","sampler_name":"DDIM"}""", "sampler_name", "must be one of: Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, LCM, Res Multistep (or: euler, euler_ancestral, res_multistep, dpmpp_2m, lcm) (got 'DDIM')" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","sampler_index":"UniPC"}""", "sampler_index", "must be one of: Euler, Euler a" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","scheduler":"Exponential"}""", "scheduler", "must be one of: Automatic, Simple, Beta, Karras (or: simple, beta, karras) (got 'Exponential')" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","cfg_scale":40}""", "cfg_scale", "between 0 and 31" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","seed":-2}""", "seed", "between 0 and" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","batch_size":0}""", "batch_size", "an integer from 1" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","batch_size":4,"n_iter":4}""", "batch_size", "between 1 and 8 (got 16)" },
        { "/sdapi/v1/txt2img", """{"prompt":"x","cfg_scale":"high"}""", "cfg_scale", "1 or less turns guidance off" },
        { "/sdapi/v1/options", "not json", "body", "must be valid JSON" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_invalid_field_is_a_400_naming_it(string endpoint, string body, string field, string phrase)
    {
        var response = await server.Factory.CreateClient().PostAsync(endpoint, new StringContent(body, Encoding.UTF8, "application/json"));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Equal("urn:zimagesharp:problem:invalid-request", (string)problem["type"]!);
        var messages = problem["errors"]?[field]?.AsArray().Select(m => (string)m!).ToList();
        Assert.True(messages is { Count: > 0 }, $"No error for '{field}' in {problem.ToJsonString()}");
        Assert.Contains(messages, m => m.Contains(phrase, StringComparison.Ordinal));
        Assert.Contains(field, (string)problem["detail"]!);
    }

    [Fact]
    public async Task All_mistakes_are_reported_at_once()
    {
        var response = await server.Client.PostAsync("/api/jobs",
            Requests.Json("""{"prompt":"x","width":"a","height":100,"steps":0,"count":99,"sampler":"dpm","extra":1}"""));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        var fields = problem["errors"]!.AsObject().Select(p => p.Key).Order().ToArray();
        Assert.Equal(["count", "extra", "height", "sampler", "steps", "width"], fields);
    }

    [Fact]
    public async Task OpenAi_errors_also_carry_openais_error_object()
    {
        var response = await server.Client.PostAsync("/v1/images/generations", Requests.Json("""{"prompt":"x","n":20}"""));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request_error", (string)problem["error"]!["type"]!);
        Assert.Equal("n", (string)problem["error"]!["param"]!);
        Assert.Contains("n must be between 1 and 8 (got 20).", (string)problem["error"]!["message"]!);
    }

    [Fact]
    public async Task A_body_far_beyond_the_limit_is_refused_without_reading_it()
    {
        var huge = new ByteArrayContent(new byte[1 << 20]);
        huge.Headers.ContentType = new("application/json");
        var problem = await (await server.Client.PostAsync("/api/jobs", huge)).AssertProblem(HttpStatusCode.BadRequest);
        Assert.Contains("must be at most 4096 bytes (got 1048576)", (string)problem["errors"]!["body"]![0]!);
    }

    [Fact]
    public async Task Nothing_was_queued_by_invalid_requests()
    {
        await server.Client.PostAsync("/api/jobs", Requests.Json("""{"prompt":"x","width":1}"""));
        var system = await server.Client.GetFromJsonAsync<JsonNode>("/api/system");
        Assert.Equal(0, (int)system!["queue"]!["depth"]!);
        Assert.Equal(0, server.Factory.Generator.TotalStarted);
    }
}
