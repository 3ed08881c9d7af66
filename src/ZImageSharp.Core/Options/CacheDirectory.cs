namespace ZImageSharp.Options;

/// <summary>Where zimage keeps what it measures or builds once per machine (speed profiles, compiled kernels):
/// <c>$XDG_CACHE_HOME/zimage/&lt;part&gt;</c>, else <c>~/.cache/zimage/&lt;part&gt;</c>.</summary>
public static class CacheDirectory
{
    /// <param name="environment">Reads an environment variable (tests pass their own).</param>
    public static string For(string part, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string? cache = environment("XDG_CACHE_HOME");
        if (string.IsNullOrWhiteSpace(cache))
        {
            string home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            cache = Path.Combine(home, ".cache");
        }
        return Path.Combine(cache, "zimage", part);
    }
}
