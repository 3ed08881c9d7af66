using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>The model's preset (docs/presets.md) is every API's defaults: under Z-Image base a request that names only
/// its prompt runs 50 steps with guidance 4, A1111's cfg_scale maps to guidance (c = 1 + g) instead of being ignored,
/// and /api/system says which preset applies and why.</summary>
public sealed class PresetApiTests : ServerApiTests
{
    private readonly List<GenerationRequest> _seen = [];

    protected override void Arrange()
    {
        var preset = GenerationPreset.Base with { Source = "test: the base preset" };
        Server.Generator.Model = Server.Generator.Model with { Limits = RequestLimits.Default with { Preset = preset } };
        Server.Generator.Failure = request => { lock (_seen) _seen.Add(request); return null; };
    }

    [Fact]
    public async Task The_system_report_names_the_preset_and_its_values()
    {
        var system = (await Client.GetFromJsonAsync<JsonNode>("/api/system"))!;
        var preset = system["model"]!["preset"]!;
        Assert.Equal("base", (string)preset["name"]!);
        Assert.Equal("Z-Image", (string)preset["model_family"]!);
        Assert.Equal(50, (int)preset["steps"]!);
        Assert.Equal(4, (double)preset["guidance_scale"]!);
        Assert.Equal("", (string)preset["negative_prompt"]!);
        Assert.Equal(0, (double)preset["cfg_normalization"]!);
        Assert.Equal(1, (double)preset["cfg_truncation"]!);
        Assert.Null(preset["shift"]);
        Assert.False((bool)preset["guidance_distilled"]!);
        Assert.Equal("test: the base preset", (string)preset["source"]!);
        Assert.False((bool)system["model"]!["limits"]!["guidance_distilled"]!);
        Assert.Null(system["model"]!["limits"]!["preset"]); // once, under model
    }

    [Fact]
    public async Task An_openai_request_that_names_only_its_prompt_runs_the_presets_defaults()
    {
        var response = await Client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "a fox", size = "256x256" }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        GenerationRequest ran;
        lock (_seen) ran = _seen.Last(r => r.Prompt == "a fox");
        Assert.Equal((50, 4f, ""), (ran.Steps, ran.GuidanceScale, ran.NegativePrompt));
    }

    [Fact]
    public async Task A_native_job_that_names_only_its_prompt_gets_the_presets_defaults()
    {
        var job = await Client.SubmitAsync(new { prompt = "a fox", seed = 1 });
        var request = job["request"]!;
        Assert.Equal((50, 4.0, ""), ((int)request["steps"]!, (double)request["guidance_scale"]!, (string)request["negative_prompt"]!));
        Assert.Equal(("euler", "simple"), ((string)request["sampler"]!, (string)request["scheduler"]!));
        Assert.Equal("succeeded", (string)(await Client.WaitForEndAsync((string)job["id"]!))["state"]!);

        // The client's own values win, including guidance 0 (off) under a preset that runs CFG.
        job = await Client.SubmitAsync(new { prompt = "a fox", steps = 3, guidance_scale = 0, negative_prompt = "blurry" });
        request = job["request"]!;
        Assert.Equal((3, 0.0, "blurry"), ((int)request["steps"]!, (double)request["guidance_scale"]!, (string)request["negative_prompt"]!));
    }

    /// <summary>/api/plan plans what the job would run: base's guidance, so the negative branch (its length unknown
    /// before tokenizing) is part of the plan the page shows.</summary>
    [Fact]
    public async Task The_plan_is_of_the_presets_defaults()
    {
        var response = await Client.PostAsJsonAsync("/api/plan", new { prompt = "a fox" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var planned = Server.Planner.LastRequest!;
        Assert.Equal((4f, 50), (planned.GuidanceScale, planned.Steps));
        Assert.True(ZImageSharp.Planning.PlannerRequest.From(planned).Guidance);
    }

    [Theory]
    [InlineData(null, 4.0, 5.0)]   // no cfg_scale: the preset's guidance, reported as A1111's 1 + g
    [InlineData(7.0, 6.0, 7.0)]    // A1111's default 7 is honoured: guidance 6
    [InlineData(4.5, 3.5, 4.5)]
    [InlineData(1.0, 0.0, 1.0)]    // classic scale 1: no CFG
    public async Task A1111_cfg_scale_is_the_guidance_plus_one(double? cfgScale, double guidance, double reported)
    {
        var body = new JsonObject { ["prompt"] = "a castle", ["steps"] = 2, ["seed"] = 5 };
        if (cfgScale is { } c) body["cfg_scale"] = c;
        var response = await Client.PostAsync("/sdapi/v1/txt2img", Requests.Json(body.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.ReadJson();
        var info = JsonNode.Parse((string)answer["info"]!)!;
        Assert.Equal(reported, (double)info["cfg_scale"]!, 5);
        Assert.Empty(info["warnings"]!.AsArray());
        var job = (await Client.GetFromJsonAsync<JsonNode>($"/api/jobs/{(string)info["job_id"]!}"))!;
        Assert.Equal(guidance, (double)job["request"]!["guidance_scale"]!, 5);
        Assert.Contains($"CFG scale: {reported.ToString(System.Globalization.CultureInfo.InvariantCulture)}, Seed: 5", (string)info["infotexts"]![0]!);
    }

    [Fact]
    public async Task A1111_steps_default_to_the_presets()
    {
        var response = await Client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "a castle", seed = 5 }));
        var info = JsonNode.Parse((string)(await response.ReadJson())["info"]!)!;
        Assert.Equal(50, (int)info["steps"]!);
    }
}

/// <summary>An edit's job record names its pictures by size and pixel hash, and A1111's infotexts are the PNG's own
/// text (what the engine wrote), not a second rendering of the request.</summary>
public sealed class EditRecordTests : ServerApiTests
{
    private static byte[] Png(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "data", "edit", name));

    [Fact]
    public async Task The_job_record_has_the_strength_and_the_init_image_and_mask_by_hash()
    {
        var job = await Client.SubmitAsync(new
        {
            prompt = "fox", steps = 2, init_image = Convert.ToBase64String(Png("init64.png")), strength = 0.5,
            mask = Convert.ToBase64String(Png("mask64.png")),
        });
        var done = await Client.WaitForEndAsync((string)job["id"]!);
        var request = done["request"]!;
        Assert.Equal(0.5, (double)request["strength"]!);
        Assert.Equal((64, 64, EditImage.FromPng(Png("init64.png"), "init").Md5()),
            ((int)request["init_image"]!["width"]!, (int)request["init_image"]!["height"]!, (string)request["init_image"]!["md5"]!));
        Assert.Equal(EditImage.FromPng(Png("mask64.png"), "mask").Md5(), (string)request["mask"]!["md5"]!);

        // The fake engine writes no parameters; the server adds them to the stored PNG, edit fields included.
        byte[] png = await Client.GetByteArrayAsync((string)done["images"]![0]!["url"]!);
        string parameters = PngReader.Read(png).GetText("parameters")!;
        Assert.Contains($"Denoising strength: 0.5, Init image hash: {(string)request["init_image"]!["md5"]!}, Mask hash: {(string)request["mask"]!["md5"]!}", parameters);

        var plain = await Client.SubmitAsync(new { prompt = "fox", steps = 1 });
        Assert.Null(plain["request"]!["strength"]);
        Assert.Null(plain["request"]!["init_image"]);
        Assert.Null(plain["request"]!["mask"]);
    }

    [Fact]
    public async Task A1111_infotexts_are_the_pngs_own_text()
    {
        var response = await Client.PostAsync("/sdapi/v1/img2img", Requests.Json(new
        {
            prompt = "fox", steps = 2, seed = 3, init_images = new[] { Convert.ToBase64String(Png("init64.png")) }, denoising_strength = 0.4,
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.ReadJson();
        var info = JsonNode.Parse((string)answer["info"]!)!;
        byte[] png = Convert.FromBase64String((string)answer["images"]![0]!);
        Assert.Equal(PngReader.Read(png).GetText("parameters"), (string)info["infotexts"]![0]!);
        Assert.Contains("Denoising strength: 0.4, Init image hash: ", (string)info["infotexts"]![0]!);
    }
}
