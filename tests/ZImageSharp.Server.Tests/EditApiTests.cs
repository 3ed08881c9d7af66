using System.Net;
using System.Text.Json;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Apis;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Image-to-image and inpainting through the native API, A1111's img2img and OpenAI's images/edits: the PNGs
/// reach the request as pixels, the size follows the init image, and bad input is a 400 naming the field.</summary>
public sealed class EditApiTests : ServerApiTests
{
    private static readonly string Data = Path.Combine(AppContext.BaseDirectory, "data", "edit");
    private static byte[] Png(string name) => File.ReadAllBytes(Path.Combine(Data, name));
    private static string Base64(string name) => Convert.ToBase64String(Png(name));

    private GenerationRequest? _seen;

    protected override void Arrange() => Server.Generator.Failure = request => { _seen = request; return null; };

    [Fact]
    public async Task Native_init_image_and_mask_reach_the_engine_and_set_the_size()
    {
        var job = await Client.SubmitAsync(new { prompt = "fox", steps = 2, init_image = Base64("init64.png"), strength = 0.5, mask = "data:image/png;base64," + Base64("mask64.png") });
        var done = await Client.WaitForEndAsync((string)job["id"]!);
        Assert.Equal("succeeded", (string)done["state"]!);
        var init = PngReader.Read(Png("init64.png"), decodePixels: true);
        Assert.NotNull(_seen);
        Assert.Equal((init.Width, init.Height), (_seen!.Width, _seen.Height));
        Assert.Equal(init.Pixels, _seen.InitImage!.Rgb);
        Assert.Equal(0.5f, _seen.Strength);
        Assert.Equal(EditImage.FromPng(Png("mask64.png"), "mask").Rgb, _seen.Mask!.Rgb);
    }

    [Fact]
    public async Task Native_bad_edit_fields_are_400s_naming_them()
    {
        var response = await Client.PostAsync("/api/jobs", Requests.Json(new { prompt = "fox", init_image = "not base64!", strength = 2 }));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Contains("not base64", (string)problem["errors"]!["init_image"]![0]!);

        response = await Client.PostAsync("/api/jobs", Requests.Json(new { prompt = "fox", init_image = Base64("init64.png"), strength = 2 }));
        problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Equal("must be above 0 and at most 1 (got 2).", (string)problem["errors"]!["strength"]![0]!);

        response = await Client.PostAsync("/api/jobs", Requests.Json(new { prompt = "fox", width = 128, init_image = Base64("init64.png") }));
        problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Contains("128x64 (got 64x64)", (string)problem["errors"]!["init_image"]![0]!);

        response = await Client.PostAsync("/api/jobs", Requests.Json(new { prompt = "fox", mask = Base64("mask64.png") }));
        problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.StartsWith("needs an init image", (string)problem["errors"]!["mask"]![0]!);
    }

    [Fact]
    public async Task A_large_native_body_is_refused_unless_it_carries_an_init_image()
    {
        var padding = new string('a', 300 * 1024);
        var response = await Client.PostAsync("/api/jobs", Requests.Json(new { prompt = "fox", negative_prompt = padding }));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Contains("only a request with an init_image may be larger", (string)problem["errors"]!["body"]![0]!);
    }

    [Fact]
    public async Task A_native_edit_larger_than_the_json_limit_is_accepted()
    {
        // Noise does not compress: a 512² PNG of it is about 770 KB, three times the 256 KiB JSON limit.
        var noise = new byte[512 * 512 * 3];
        new Random(1).NextBytes(noise);
        var png = PngEncoder.Encode(noise, 512, 512, PngColorType.Rgb, []);
        Assert.True(png.Length > 3 * 256 * 1024 * 3 / 4, $"the PNG should be large ({png.Length} bytes)");
        var job = await Client.SubmitAsync(new { prompt = "fox", steps = 1, init_image = Convert.ToBase64String(png) });
        var done = await Client.WaitForEndAsync((string)job["id"]!);
        Assert.Equal("succeeded", (string)done["state"]!);
        Assert.Equal(noise, _seen!.InitImage!.Rgb);
    }

    [Fact]
    public async Task A1111_img2img_reads_init_images_denoising_strength_and_mask()
    {
        var response = await Client.PostAsync("/sdapi/v1/img2img", Requests.Json(new
        {
            prompt = "a castle", steps = 2, seed = 9, init_images = new[] { Base64("init64.png") }, denoising_strength = 0.4,
            mask = Base64("mask64.png"), inpainting_mask_invert = 1,
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJson();
        Assert.Single(body["images"]!.AsArray());
        Assert.Equal(0.4, (double)body["parameters"]!["denoising_strength"]!, 6);
        Assert.Equal(64, (int)body["parameters"]!["width"]!);
        var mask = EditImage.FromPng(Png("mask64.png"), "mask");
        Assert.Equal(mask.Rgb.Select(b => (byte)(255 - b)), _seen!.Mask!.Rgb);   // inverted: white keeps
        Assert.Equal(0.4f, _seen.Strength);
    }

    [Fact]
    public void A1111_img2img_defaults_and_errors()
    {
        var json = JsonSerializer.Serialize(new { prompt = "x", init_images = new[] { Base64("init64.png") } });
        var (request, _) = Automatic1111Api.ParseWithWarnings(JsonDocument.Parse(json).RootElement, RequestLimits.Default, img2img: true);
        Assert.Equal(Automatic1111Api.A1111DefaultStrength, request.Strength);
        Assert.Null(request.Mask);

        var missing = Assert.Throws<ZImageSharp.Errors.InvalidRequestException>(() =>
            Automatic1111Api.ParseWithWarnings(JsonDocument.Parse("""{"prompt":"x"}""").RootElement, RequestLimits.Default, img2img: true));
        Assert.Contains(missing.Errors, e => e.Field == "init_images" && e.Message.StartsWith("is required"));
        var twoImages = JsonSerializer.Serialize(new { prompt = "x", init_images = new[] { Base64("init64.png"), Base64("init64.png") } });
        var error = Assert.Single(Assert.Throws<ZImageSharp.Errors.InvalidRequestException>(() =>
            Automatic1111Api.ParseWithWarnings(JsonDocument.Parse(twoImages).RootElement, RequestLimits.Default, img2img: true)).Errors);
        Assert.Equal("init_images", error.Field);
        Assert.Contains("one image", error.Message);
        var noStrength = JsonSerializer.Serialize(new { prompt = "x", init_images = new[] { Base64("init64.png") }, denoising_strength = 0 });
        error = Assert.Single(Assert.Throws<ZImageSharp.Errors.InvalidRequestException>(() =>
            Automatic1111Api.ParseWithWarnings(JsonDocument.Parse(noStrength).RootElement, RequestLimits.Default, img2img: true)).Errors);
        Assert.Equal("denoising_strength", error.Field);
    }

    [Fact]
    public async Task OpenAi_edits_takes_a_multipart_image_and_an_alpha_mask()
    {
        // OpenAI's mask: transparent (alpha 0) is where to edit.
        var init = PngReader.Read(Png("init64.png"), decodePixels: true);
        var alpha = new byte[init.Width * init.Height * 4];
        for (int i = 0; i < init.Width * init.Height; i++) alpha[4 * i + 3] = (byte)(i % init.Width < init.Width / 2 ? 255 : 0);
        var mask = PngEncoder.Encode(alpha, init.Width, init.Height, PngColorType.Rgba, []);

        var response = await Client.PostAsync("/v1/images/edits", Requests.Form(("image", Png("init64.png")), ("mask", mask),
            ("prompt", "a lighthouse"), ("n", 2), ("response_format", "b64_json"), ("steps", 2)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var data = (await response.ReadJson())["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        Assert.Contains("Size: 64x64", PngReader.Read(Convert.FromBase64String((string)data[0]!["b64_json"]!)).GetText("parameters"));
        Assert.Equal(init.Pixels, _seen!.InitImage!.Rgb);
        Assert.Equal(1f, _seen.Strength);   // a masked edit repaints its region from scratch
        var bits = _seen.Mask!.MaskBits();
        Assert.False(bits[0]);
        Assert.True(bits[init.Width - 1]);
    }

    [Fact]
    public async Task OpenAi_edits_errors_name_the_field()
    {
        var response = await Client.PostAsync("/v1/images/edits", Requests.Form(("prompt", "x")));
        var problem = await response.ReadJson();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("image", problem.ToJsonString());
        Assert.Contains("is required", problem.ToJsonString());

        response = await Client.PostAsync("/v1/images/edits", Requests.Form(("image", "GIF89a"u8.ToArray()), ("prompt", "x")));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not a PNG", (await response.ReadJson()).ToJsonString());

        response = await Client.PostAsync("/v1/images/edits", Requests.Form(("image", Png("init64.png")), ("prompt", "x"), ("size", "128x128")));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("128x128 (got 64x64)", (await response.ReadJson()).ToJsonString());

        // A JSON body is the wrong media type for this endpoint (as multipart is for images/generations).
        response = await Client.PostAsync("/v1/images/edits", Requests.Json(new { prompt = "x" }));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public void An_edit_request_survives_the_job_store_json()
    {
        var request = new GenerationRequest
        {
            Prompt = "x", Width = 64, Height = 64, Strength = 0.3f,
            InitImage = EditImage.FromPng(Png("init64.png"), "init"), Mask = EditImage.FromPng(Png("mask64.png"), "mask"),
        };
        var back = JsonSerializer.Deserialize<GenerationRequest>(JsonSerializer.Serialize(request, JobStore.RequestJson), JobStore.RequestJson)!;
        Assert.Equal(request.InitImage.Rgb, back.InitImage!.Rgb);
        Assert.Equal(request.Mask.Rgb, back.Mask!.Rgb);
        Assert.Equal(0.3f, back.Strength);
    }
}

public sealed class EditBodyScanTests
{
    [Theory]
    [InlineData("""{"prompt":"x","init_image":"iVBOR""", true)]
    [InlineData("""{"init_image":""", true)]
    [InlineData("""{"prompt":"x","loras":[{"name":"init_image"}],"init_image":"iV""", true)]
    [InlineData("""{"prompt":"x","loras":[{"name":"init_image"}""", false)]
    [InlineData("""{"prompt":"init_image is here but""", false)]
    [InlineData("""{"nested":{"init_image":"x"},"prompt":"y""", false)]
    [InlineData("""\0\0\0\0""", false)]
    public void A_large_body_must_name_init_image_at_its_top_level_early(string start, bool expected) =>
        Assert.Equal(expected, ZImageSharp.Server.Apis.NativeRequest.HasTopLevelInitImage(System.Text.Encoding.UTF8.GetBytes(start)));
}
