using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Apis;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Samplers, schedules and guidance through the three APIs, and the OpenAI client conveniences
/// (/v1/models, errors in OpenAI's object; stream: true is OpenAiStreamTests').</summary>
public sealed class SamplerApiTests : ServerApiTests
{

    private static GenerationRequest A1111(string json, RequestLimits? limits = null) =>
        Automatic1111Api.Parse(JsonDocument.Parse(json).RootElement, limits ?? RequestLimits.Default);

    [Fact]
    public async Task Native_sampler_and_scheduler_reach_the_job_record()
    {
        var job = await Client.SubmitAsync(new { prompt = "fox", steps = 2, sampler = "dpmpp_2m", scheduler = "karras", shift = 2.5 });
        var done = await Client.WaitForEndAsync((string)job["id"]!);
        Assert.Equal("succeeded", (string)done["state"]!);
        Assert.Equal("dpmpp_2m", (string)done["request"]!["sampler"]!);
        Assert.Equal("karras", (string)done["request"]!["scheduler"]!);
        Assert.Equal(2.5, (double)done["request"]!["shift"]!);

        var defaults = await Client.WaitForEndAsync((string)(await Client.SubmitAsync(new { prompt = "plain", steps = 1 }))["id"]!);
        Assert.Equal("euler", (string)defaults["request"]!["sampler"]!);
        Assert.Equal("simple", (string)defaults["request"]!["scheduler"]!);
    }

    [Theory]
    [InlineData("""{"prompt":"x"}""", "euler", "simple")]
    [InlineData("""{"prompt":"x","sampler_name":"Euler a"}""", "euler_ancestral", "simple")]
    [InlineData("""{"prompt":"x","sampler_name":"k_euler_a","scheduler":"Automatic"}""", "euler_ancestral", "simple")]
    [InlineData("""{"prompt":"x","sampler_name":"DPM++ 2M Karras"}""", "dpmpp_2m", "karras")]
    [InlineData("""{"prompt":"x","sampler_name":"DPM++ 2M Karras","scheduler":"Beta"}""", "dpmpp_2m", "beta")]
    [InlineData("""{"prompt":"x","sampler_name":"DPM++ 2M","scheduler":"karras"}""", "dpmpp_2m", "karras")]
    [InlineData("""{"prompt":"x","sampler_index":"LCM"}""", "lcm", "simple")]
    [InlineData("""{"prompt":"x","sampler_name":"res_multistep","scheduler":"simple"}""", "res_multistep", "simple")]
    public void A1111_sampler_names_map_to_ours(string body, string sampler, string scheduler)
    {
        var request = A1111(body);
        Assert.Equal((sampler, scheduler), (request.Sampler, request.Scheduler));
    }

    /// <summary>Spec §1.5: classic CFG c is Z-Image's g = c − 1. On a guidance-distilled model A1111's cfg_scale is
    /// not honoured at all (clients send 7 unasked); elsewhere it maps with the offset.</summary>
    [Theory]
    [InlineData(7f, true, 0f)]
    [InlineData(3.5f, true, 0f)]
    [InlineData(7f, false, 6f)]
    [InlineData(3.5f, false, 2.5f)]
    [InlineData(1f, false, 0f)]
    [InlineData(0f, false, 0f)]
    public void A1111_cfg_scale_maps_to_guidance_with_the_offset_unless_the_model_is_distilled(float cfg, bool distilled, float guidance)
    {
        var limits = RequestLimits.Default with { Preset = distilled ? GenerationPreset.Turbo : GenerationPreset.Base };
        var (request, warnings) = Automatic1111Api.ParseWithWarnings(
            JsonDocument.Parse($$"""{"prompt":"x","cfg_scale":{{cfg.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}""").RootElement, limits);
        Assert.Equal(guidance, request.GuidanceScale);
        Assert.Equal(distilled && cfg > 1 ? 1 : 0, warnings.Count);
    }

    [Fact]
    public async Task A1111_default_cfg_scale_7_runs_without_cfg_and_says_so()
    {
        var response = await Client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new
        {
            prompt = "a castle", steps = 2, seed = 5, cfg_scale = 7, sampler_name = "Euler a", scheduler = "Karras",
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJson();
        var info = JsonNode.Parse((string)body["info"]!)!;
        Assert.Equal(1, (double)info["cfg_scale"]!);
        Assert.Equal("Euler a", (string)info["sampler_name"]!);
        Assert.Equal("Karras", (string)info["scheduler"]!);
        Assert.Equal("Euler a", (string)body["parameters"]!["sampler_name"]!);
        Assert.StartsWith("cfg_scale 7 was ignored: this model has classifier-free guidance distilled in", (string)info["warnings"]![0]!);
        Assert.Contains("Steps: 2, Sampler: Euler a, Schedule type: Karras, CFG scale: 1, Seed: 5", (string)info["infotexts"]![0]!);
        var job = await Client.GetFromJsonAsync<JsonNode>($"/api/jobs/{(string)info["job_id"]!}");
        Assert.Equal(0, (double)job!["request"]!["guidance_scale"]!);
        Assert.Equal("euler_ancestral", (string)job["request"]!["sampler"]!);
    }

    [Fact]
    public async Task A1111_lists_its_schedulers()
    {
        var schedulers = await Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/schedulers");
        Assert.Equal(["Automatic", "Simple", "Beta", "Karras"], schedulers!.AsArray().Select(n => (string)n!["label"]!));
        Assert.Equal(["automatic", "simple", "beta", "karras"], schedulers.AsArray().Select(n => (string)n!["name"]!));
    }

    [Fact]
    public async Task OpenAi_lists_the_model_and_answers_an_unknown_one_with_its_error_object()
    {
        var models = await Client.GetFromJsonAsync<JsonNode>("/v1/models");
        Assert.Equal("list", (string)models!["object"]!);
        var model = Assert.Single(models["data"]!.AsArray())!;
        Assert.Equal("fake-tiny", (string)model["id"]!);
        Assert.Equal("model", (string)model["object"]!);
        Assert.Equal("zimagesharp", (string)model["owned_by"]!);
        Assert.Equal("fake-tiny", (string)(await Client.GetFromJsonAsync<JsonNode>("/v1/models/fake-tiny"))!["id"]!);

        var missing = await Client.GetAsync("/v1/models/dall-e-3");
        var problem = await missing.AssertProblem(HttpStatusCode.NotFound);
        Assert.Equal("invalid_request_error", (string)problem["error"]!["type"]!);
        Assert.Equal("not_found", (string)problem["error"]!["code"]!);
        Assert.Contains("The model 'dall-e-3' does not exist; this server runs 'fake-tiny'", (string)problem["error"]!["message"]!);
    }

    [Theory]
    [InlineData("GET", "/v1/embeddings")]
    [InlineData("POST", "/v1/images/variations")]
    public async Task OpenAi_routes_that_do_not_exist_answer_a_body_with_openais_error(string method, string path)
    {
        var response = await Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = Requests.Json("{}") });
        var problem = await response.AssertProblem(HttpStatusCode.NotFound);
        Assert.Equal("not_found", (string)problem["error"]!["code"]!);
        Assert.Contains(path, (string)problem["error"]!["message"]!);
    }

    /// <summary>A bad size is one error for "size", said once, not once for each side.</summary>
    [Fact]
    public async Task OpenAi_error_message_says_each_mistake_once()
    {
        var response = await Client.PostAsync("/v1/images/generations", Requests.Json("""{"prompt":"x","size":"1000x1000"}"""));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        string message = (string)problem["error"]!["message"]!;
        Assert.Equal("size", (string)problem["error"]!["param"]!);
        Assert.Equal(message.IndexOf("size must be", StringComparison.Ordinal), message.LastIndexOf("size must be", StringComparison.Ordinal));
        Assert.Single(problem["errors"]!["size"]!.AsArray());
    }

    [Fact]
    public async Task OpenAi_stream_false_is_the_ordinary_answer()
    {
        var response = await Client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "x", stream = false, steps = 1 }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var png = Convert.FromBase64String((string)(await response.ReadJson())["data"]![0]!["b64_json"]!);
        Assert.Contains("Sampler: Euler, CFG scale: 1", PngReader.Read(png).GetText("parameters"));
    }
}
