using Microsoft.Playwright;
using Xunit.Abstractions;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests;

/// <summary>The web page in headless Chromium (Debian's, driven by Playwright): generate an image, watch the
/// progress, find it in the gallery, save a screenshot.</summary>
public sealed class BrowserTests(ITestOutputHelper output)
{

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task The_page_generates_an_image_shows_progress_and_puts_it_in_the_gallery()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);

        var generator = new FakeImageGenerator { StepDelay = TimeSpan.FromMilliseconds(120) };
        await using var server = await LiveServer.StartAsync(generator);
        // The test types 1000x700, off the 16-pixel grid: if the plan check fires then, the server's 400 is the
        // hint the page shows, not an error.
        await using var browser = await BrowserPage.OpenAsync(expectedErrors: r => r.Status == 400 && r.Url.EndsWith("/api/plan", StringComparison.Ordinal));
        var page = browser.Page;

        await page.GotoAsync(server.BaseAddress.ToString());
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync("fake-tiny");
        await Assertions.Expect(page.Locator("#demo-banner")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#demo-text")).ToContainTextAsync("tiny demo model");
        await Assertions.Expect(page.Locator("#gpus")).ToContainTextAsync("RTX 4090 (fake)");
        await Assertions.Expect(page.Locator("#plan-hint")).ToContainTextAsync("1024×1024 fits");

        await page.Locator("#aspects .chip", new() { HasText = "16:9" }).ClickAsync();
        await Assertions.Expect(page.Locator("#width")).ToHaveValueAsync("1360");
        await Assertions.Expect(page.Locator("#height")).ToHaveValueAsync("768");
        // The chips and the size menu follow a typed size: a custom ratio checks no chip, a square checks 1:1.
        await page.Locator("#width").FillAsync("1000");
        await page.Locator("#height").FillAsync("700");
        await Assertions.Expect(page.Locator("#aspects .chip[aria-checked=true]")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#scale")).ToHaveValueAsync("768");
        await page.Locator("#width").FillAsync("1440");
        await page.Locator("#height").FillAsync("1440");
        await Assertions.Expect(page.Locator("#aspects .chip[aria-checked=true]")).ToHaveTextAsync("1:1");
        await Assertions.Expect(page.Locator("#scale")).ToHaveValueAsync("1440");
        await page.Locator("#aspects .chip", new() { HasText = "16:9" }).ClickAsync();
        await Assertions.Expect(page.Locator("#width")).ToHaveValueAsync("1920");
        await page.Locator("#scale").SelectOptionAsync("1024");
        await Assertions.Expect(page.Locator("#width")).ToHaveValueAsync("1360");
        await Assertions.Expect(page.Locator("#height")).ToHaveValueAsync("768");
        await page.Locator("#prompt").FillAsync("a lighthouse at dusk, oil painting");
        await page.Locator("#seed-dice").ClickAsync();
        await page.Locator("#steps").FillAsync("12");
        await page.Locator("#generate").ClickAsync();

        // Progress: a step counter and a live preview while it runs.
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("of 12", new() { Timeout = 10_000 });
        await Assertions.Expect(page.Locator("#preview")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#progress-eta")).ToContainTextAsync("left");
        string width = await page.Locator("#progress-fill").EvaluateAsync<string>("e => e.style.width");
        output.WriteLine($"progress bar mid-run: {width}");
        await browser.ScreenshotAsync("web-page-progress.png");

        // The result, then the gallery card with its parameters.
        await Assertions.Expect(page.Locator("#results img")).ToHaveCountAsync(1, new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in");
        var card = page.Locator(".card").First;
        await Assertions.Expect(card.Locator(".prompt")).ToHaveTextAsync("a lighthouse at dusk, oil painting");
        await Assertions.Expect(card.Locator(".meta")).ToContainTextAsync("1360×768 · 12 steps");
        await Assertions.Expect(card.Locator(".thumb img")).ToBeVisibleAsync();

        // "Use these settings" brings them back into the form.
        await page.Locator("#prompt").FillAsync("");
        await page.Locator("#steps").FillAsync("8");
        await card.Locator("button", new() { HasText = "Use these settings" }).ClickAsync();
        await Assertions.Expect(page.Locator("#prompt")).ToHaveValueAsync("a lighthouse at dusk, oil painting");
        await Assertions.Expect(page.Locator("#steps")).ToHaveValueAsync("12");

        string screenshot = await browser.ScreenshotAsync("web-page.png", fullPage: true);
        output.WriteLine($"screenshot: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000);
        Assert.Equal(1, generator.Completed("a lighthouse at dusk, oil painting"));
        browser.AssertNoErrors();
    }

    [SkippableFact]
    [Trait("Category", "Browser")]
    public async Task With_api_keys_the_page_asks_for_the_key_remembers_it_and_generates_with_it()
    {
        Skip.IfNot(HeadlessChromium.IsInstalled, HeadlessChromium.MissingReason);

        const string key = "browser-key-0123456789abcdef";
        var generator = new FakeImageGenerator { StepDelay = TimeSpan.FromMilliseconds(150) };
        await using var server = await LiveServer.StartAsync(generator, o => o.ApiKeys.Add(key));
        await using var browser = await BrowserPage.OpenAsync();
        var page = browser.Page;

        // Without the key the page asks for it and loads nothing.
        await page.GotoAsync(server.BaseAddress.ToString());
        await Assertions.Expect(page.Locator("#key-form")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync("loading…");
        await page.Locator("#api-key").FillAsync("wrong-key-0123456789abcdef");
        await page.Locator("#use-key").ClickAsync();
        await Assertions.Expect(page.Locator("#key-message")).ToContainTextAsync("not accepted");

        await page.Locator("#api-key").FillAsync(key);
        await page.Locator("#use-key").ClickAsync();
        await Assertions.Expect(page.Locator("#key-form")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync("fake-tiny");
        await Assertions.Expect(page.Locator("#key-status")).ToHaveTextAsync("Forget key");
        await Assertions.Expect(page.Locator("#plan-hint")).ToContainTextAsync("fits");
        var cookie = (await browser.Context.CookiesAsync()).Single(c => c.Name.StartsWith("zimage_session", StringComparison.Ordinal));
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.DoesNotContain(key, cookie.Value);

        // Progress arrives over EventSource and the images load, both on the session cookie.
        await page.Locator("#prompt").FillAsync("a keyed lighthouse");
        await page.Locator("#steps").FillAsync("6");
        await page.Locator("#generate").ClickAsync();
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("of 6", new() { Timeout = 10_000 });
        await Assertions.Expect(page.Locator("#results img")).ToHaveCountAsync(1, new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#progress-step")).ToContainTextAsync("Done in");
        var thumb = page.Locator(".card .thumb img").First;
        await Assertions.Expect(thumb).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#results img, .card .thumb img')].every(i => i.complete && i.naturalWidth > 0)");

        // The key survives a reload; "Forget key" asks again.
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#model-name")).ToHaveTextAsync("fake-tiny");
        await Assertions.Expect(page.Locator("#key-form")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator(".card .prompt").First).ToHaveTextAsync("a keyed lighthouse");
        await page.Locator("#key-status").ClickAsync();
        await Assertions.Expect(page.Locator("#key-form")).ToBeVisibleAsync();
        Assert.DoesNotContain(await browser.Context.CookiesAsync(), c => c.Name.StartsWith("zimage_session", StringComparison.Ordinal));

        Assert.Equal(1, generator.Completed("a keyed lighthouse"));
        browser.AssertNoErrors();
    }
}

