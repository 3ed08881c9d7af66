namespace ZImageSharp.Engine.Tests;

/// <summary>Where the tests find their data. Environment variables let another folder of the same layout be checked
/// without code changes.</summary>
internal static class TestData
{
    /// <summary>The reference fixtures: the repo's copy, or the folder named by ZIMAGE_REFERENCE_DIR.</summary>
    public static string ReferenceDir =>
        Environment.GetEnvironmentVariable("ZIMAGE_REFERENCE_DIR") is { Length: > 0 } dir
            ? dir
            : Path.Combine(AppContext.BaseDirectory, "data", "reference");

    public static string TokenizerDir => Path.Combine(AppContext.BaseDirectory, "data", "tokenizer");

    public static string Reference(string file) => Path.Combine(ReferenceDir, file);

    /// <summary>Skips (never passes) a parity test whose fixture set is absent from the reference folder.</summary>
    public static void RequireReference(params string[] files)
    {
        foreach (var f in files)
            Skip.IfNot(File.Exists(Reference(f)), $"fixture set absent: {Reference(f)} does not exist");
    }
}
