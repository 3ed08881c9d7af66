using Microsoft.Playwright;

namespace ZImageSharp.Server.Tests.Infrastructure;

/// <summary>Debian's Chromium driven by Playwright (never a downloaded browser): the flags keep it off the network
/// this machine does not have. Tests open it through <see cref="BrowserPage"/>.</summary>
internal static class HeadlessChromium
{
    public const string Path = "/usr/bin/chromium";
    public const string MissingReason = Path + " is not installed; scripts/install-browser.sh installs it.";

    public static bool IsInstalled => File.Exists(Path);

    internal static Task<IBrowserContext> LaunchAsync(IPlaywright playwright, string profileFolder) =>
        playwright.Chromium.LaunchPersistentContextAsync(profileFolder, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Path,
            Headless = true,
            Args =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
            ViewportSize = new ViewportSize { Width = 1400, Height = 1000 },
        });
}

/// <summary>One page in a fresh Chromium profile, watched for errors from the start. A fresh profile folder keeps
/// runs independent; disposing closes the browser, ends Playwright and deletes the folder, also when the test
/// failed.</summary>
internal sealed class BrowserPage : IAsyncDisposable
{
    private readonly IPlaywright _playwright;
    private readonly string _profile;
    private readonly List<string> _errors;

    private BrowserPage(IPlaywright playwright, string profile, IBrowserContext context, IPage page, Func<IResponse, bool>? expectedErrors)
    {
        _playwright = playwright;
        _profile = profile;
        Context = context;
        Page = page;
        _errors = WatchErrors(page, expectedErrors);
    }

    /// <summary>The persistent context: its cookies are the page's.</summary>
    public IBrowserContext Context { get; }

    public IPage Page { get; }

    /// <summary>The page's script errors and its answers of 400 or more that <c>expectedErrors</c> did not
    /// allow.</summary>
    public IReadOnlyList<string> Errors => _errors;

    /// <param name="expectedErrors">Answers of 400 or more the test expects (the page shows them as hints).</param>
    public static async Task<BrowserPage> OpenAsync(Func<IResponse, bool>? expectedErrors = null)
    {
        string profile = TempFolder.Create();
        IPlaywright? playwright = null;
        IBrowserContext? context = null;
        try
        {
            playwright = await Playwright.CreateAsync();
            context = await HeadlessChromium.LaunchAsync(playwright, profile);
            // A persistent context opens with a blank page; that one is the page.
            var page = context.Pages.Count > 0 ? context.Pages[0] : await context.NewPageAsync();
            return new BrowserPage(playwright, profile, context, page, expectedErrors);
        }
        catch
        {
            if (context is not null) await context.DisposeAsync();
            playwright?.Dispose();
            TempFolder.Delete(profile);
            throw;
        }
    }

    public void AssertNoErrors() => Assert.True(_errors.Count == 0, string.Join("\n", _errors));

    /// <summary>Saves the page as <paramref name="name"/> in ZIMAGE_SCREENSHOT_DIR (else screenshots/ beside the tests)
    /// and returns the file's path.</summary>
    public async Task<string> ScreenshotAsync(string name, bool fullPage = false)
    {
        string folder = Environment.GetEnvironmentVariable("ZIMAGE_SCREENSHOT_DIR") ?? System.IO.Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(folder);
        string path = System.IO.Path.Combine(folder, name);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Context.DisposeAsync();
        }
        finally
        {
            _playwright.Dispose();
            TempFolder.Delete(_profile);
        }
    }

    /// <summary>Collects script errors and every answer of 400 or more (with its URL; Chromium's own console line for
    /// it names no URL), except those <paramref name="expected"/> allows.</summary>
    private static List<string> WatchErrors(IPage page, Func<IResponse, bool>? expected)
    {
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource: the server responded", StringComparison.Ordinal))
                errors.Add($"{message.Text} ({message.Location})");
        };
        page.PageError += (_, error) => errors.Add(error);
        page.Response += (_, response) =>
        {
            if (response.Status >= 400 && expected?.Invoke(response) != true)
                errors.Add($"{response.Request.Method} {response.Url} answered {response.Status}");
        };
        return errors;
    }
}
