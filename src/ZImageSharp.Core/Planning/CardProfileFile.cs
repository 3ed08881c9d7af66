using System.Text.Json;

namespace ZImageSharp.Planning;

/// <summary>A speed-profile file that exists but cannot be used; the message names the file, what is wrong and what
/// to do. Nothing falls back past one: a plan the user believes measured would silently use other speeds.</summary>
public sealed class SpeedProfileFileException(string file, string reason, Exception? inner = null, bool missing = false)
    : FormatException($"The speed profile {file} cannot be used: {reason} " + (missing
        ? "Give the file `zimage bench --calibrate --speed-profile` wrote, or leave --speed-profile (ZIMAGE_SPEED_PROFILE) out to use this card's profile or the scaled reference."
        : "Run `zimage bench --calibrate` on this card to write it again, or delete it to use the scaled reference profile."), inner)
{
    public string File { get; } = file;
}

/// <summary>Reads and writes <see cref="CardProfile"/> JSON. The default place is one file per card under
/// <c>$XDG_CACHE_HOME/zimage/profiles/</c> (else <c>~/.cache/zimage/profiles/</c>), named by <see cref="CardIdentity.Key"/>.</summary>
public static class CardProfileFile
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>The folder of per-card profiles.</summary>
    public static string DefaultDirectory(Func<string, string?>? environment = null) =>
        Options.CacheDirectory.For("profiles", environment);

    public static string DefaultPath(CardIdentity card, string? directory = null) =>
        Path.Combine(directory ?? DefaultDirectory(), card.Key + ".json");

    /// <exception cref="SpeedProfileFileException">Missing, unreadable, not JSON, not a profile, or invalid numbers.</exception>
    public static CardProfile Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException e) { throw new SpeedProfileFileException(path, "it does not exist.", e, missing: true); }
        catch (DirectoryNotFoundException e) { throw new SpeedProfileFileException(path, "its folder does not exist.", e, missing: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpeedProfileFileException(path, $"it could not be read ({e.Message}).", e);
        }
        CardProfile? profile;
        try { profile = JsonSerializer.Deserialize<CardProfile>(text, Json); }
        catch (JsonException e)
        {
            string where = e.LineNumber is { } line ? $" (line {line + 1})" : "";
            throw new SpeedProfileFileException(path, $"it is not a speed profile{where}: {e.Message.Split(" Path:")[0]}", e);
        }
        if (profile is null) throw new SpeedProfileFileException(path, "it holds null instead of a profile.");
        var errors = profile.Check();
        if (errors.Count > 0) throw new SpeedProfileFileException(path, string.Join(" ", errors));
        return profile;
    }

    /// <summary>Writes through a temporary file in the same folder and renames it over the target, so a reader sees
    /// the old profile or the new one, never half of one.</summary>
    public static void Write(string path, CardProfile profile)
    {
        var errors = profile.Check();
        if (errors.Count > 0) throw new ArgumentException($"Refusing to write an invalid speed profile to {path}: {string.Join(" ", errors)}");
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = $"{full}.{Environment.ProcessId}.partial";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(profile, Json));
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
