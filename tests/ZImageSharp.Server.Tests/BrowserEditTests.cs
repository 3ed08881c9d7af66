using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Xunit.Abstractions;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Inpainting from the page with the real engine (the demo model): upload an init image, paint a mask with
/// the page's brush using real mouse events, generate. The mask the page sends is white where the stroke went and
/// black elsewhere; the job record holds that mask (by its pixel hash) and the init image; the engine's PNG names
/// both; the result shows.</summary>
public sealed class BrowserEditTests(TinyEngineFixture tiny, ITestOutputHelper output) : IClassFixture<TinyEngineFixture>
{
    private static readonly string InitPng = Path.Combine(AppContext.BaseDirectory, "data", "edit", "init64.png");
    private const string Prompt = "a tiny harbour, demo noise, inpainted";

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task The_page_uploads_an_image_paints_a_mask_and_the_engine_inpaints_with_it()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);

        await using var live = new ServerFactory();
        var address = tiny.ServeOnLoopback(live);
        using var http = new HttpClient { BaseAddress = address };
        await using var browser = await BrowserPage.OpenAsync();
        var page = browser.Page;

        await page.GotoAsync(address.ToString());
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync(tiny.Engine.Model.Name);
        await page.Locator("#prompt").FillAsync(Prompt);
        await page.Locator("#steps").FillAsync("3");
        await page.Locator("#seed-random").UncheckAsync();
        await page.Locator("#seed").FillAsync("77");

        // The upload sets the request's size from the image and shows it with the mask canvas over it.
        await page.Locator("#init-file").SetInputFilesAsync(InitPng);
        await Assertions.Expect(page.Locator("#edit-stage")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#width")).ToHaveValueAsync("64");
        await Assertions.Expect(page.Locator("#height")).ToHaveValueAsync("64");
        await page.Locator("#strength").FillAsync("0.8");
        await page.Locator("#brush").FillAsync("16");

        // One horizontal stroke across the middle, from 20% to 80% of the width, as a user drags the mouse.
        var canvas = page.Locator("#mask-canvas");
        var box = (await canvas.BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + box.Width * 0.2f, box.Y + box.Height * 0.5f);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(box.X + box.Width * 0.8f, box.Y + box.Height * 0.5f, new() { Steps = 16 });
        await page.Mouse.UpAsync();

        var submitted = page.WaitForRequestAsync(r => r.Method == "POST" && r.Url.EndsWith("/api/jobs", StringComparison.Ordinal));
        await page.Locator("#generate").ClickAsync();
        var body = JsonNode.Parse((await submitted).PostData!)!;
        var sentMask = Image((string)body["mask"]!, "mask");
        var sentInit = Image((string)body["init_image"]!, "init_image");
        Assert.Equal(0.8, (double)body["strength"]!, 5);

        // The mask is the stroke: white along it (16 px wide at image scale, y = 32), black away from it.
        Assert.Equal((64, 64), (sentMask.Width, sentMask.Height));
        var bits = sentMask.MaskBits();
        bool Repaints(int x, int y) => bits[y * 64 + x];
        foreach (var (x, y) in new[] { (16, 32), (32, 32), (48, 32), (32, 26), (32, 38) })
            Assert.True(Repaints(x, y), $"the mask keeps ({x}, {y}), which the stroke covered");
        foreach (var (x, y) in new[] { (2, 32), (61, 32), (32, 5), (32, 58), (0, 0), (63, 63) })
            Assert.False(Repaints(x, y), $"the mask repaints ({x}, {y}), which the stroke did not touch");
        int repainted = bits.Count(b => b);
        output.WriteLine($"mask: {repainted} of {bits.Length} pixels repaint");
        Assert.InRange(repainted, 48 * 14, 64 * 20);
        // The init image is the file's picture, redrawn at its own size.
        Assert.Equal(EditImage.FromPng(File.ReadAllBytes(InitPng), "init").Rgb, sentInit.Rgb);

        // The result appears, and the record holds the mask and the init image the page sent.
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('#results img'); return i && i.complete && i.naturalWidth > 0; }",
            null, new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in");
        string src = (await page.Locator("#results img").First.GetAttributeAsync("src"))!;
        var segments = new Uri(http.BaseAddress!, src).AbsolutePath.Split('/');
        var job = (await http.GetFromJsonAsync<JsonNode>($"/api/jobs/{segments[^3]}"))!;
        Assert.Equal("succeeded", (string)job["state"]!);
        var request = job["request"]!;
        Assert.Equal(0.8, (double)request["strength"]!, 5);
        Assert.Equal((64, 64, sentMask.Md5()), ((int)request["mask"]!["width"]!, (int)request["mask"]!["height"]!, (string)request["mask"]!["md5"]!));
        Assert.Equal(sentInit.Md5(), (string)request["init_image"]!["md5"]!);
        Assert.Equal(77, (long)job["images"]![0]!["seed"]!);

        // The engine's own PNG names the edit as A1111 does.
        var png = PngReader.Read(await http.GetByteArrayAsync(src), decodePixels: true);
        Assert.Equal((64, 64), (png.Width, png.Height));
        string parameters = png.GetText("parameters")!;
        output.WriteLine(parameters);
        Assert.Contains($"Denoising strength: 0.8, Init image hash: {sentInit.Md5()}, Mask hash: {sentMask.Md5()}", parameters);
        await Assertions.Expect(page.Locator(".card .meta").First).ToContainTextAsync("64×64 · 3 steps · seed 77 · inpaint");

        // Cleared, the mask is gone from the next request: an img2img of the same picture.
        await page.Locator("#mask-clear").ClickAsync();
        var again = page.WaitForRequestAsync(r => r.Method == "POST" && r.Url.EndsWith("/api/jobs", StringComparison.Ordinal));
        await page.Locator("#generate").ClickAsync();
        var second = JsonNode.Parse((await again).PostData!)!;
        Assert.Null(second["mask"]);
        Assert.NotNull(second["init_image"]);
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in", new() { Timeout = 60_000 });
        browser.AssertNoErrors();
    }

    private static EditImage Image(string dataUrl, string field)
    {
        Assert.StartsWith("data:image/png;base64,", dataUrl);
        return EditImage.FromPng(Convert.FromBase64String(dataUrl[(dataUrl.IndexOf(',') + 1)..]), field);
    }
}
