using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using ZImageSharp.Server.Hosting;

namespace ZImageSharp.Server.Security;

/// <summary>What a key may do. Read: every GET (history, images, progress, metrics) and planning. Full: also create,
/// cancel, delete and interrupt.</summary>
internal enum ApiAccess
{
    Read,
    Full,
}

/// <summary>The server's API keys, from <see cref="ZImageServerOptions.ApiKeys"/>, the ZIMAGE_API_KEYS environment
/// variable and <see cref="ZImageServerOptions.ApiKeysFile"/>. Only SHA-256 digests are kept, and a presented key is
/// compared with every one in constant time: neither its length nor how much of it matches shows in the timing.</summary>
internal sealed class ApiKeyRing
{
    public const string EnvironmentVariable = "ZIMAGE_API_KEYS";
    public const int MinimumLength = 16;
    public const int MaximumLength = 512;

    // The session cookie is derived from the key, so it outlives a restart and dies with the key, and reveals nothing
    // of the key itself.
    private static readonly byte[] SessionLabel = "ZImageSharp session cookie v1"u8.ToArray();

    private readonly Entry[] _entries;

    private ApiKeyRing(Entry[] entries) => _entries = entries;

    /// <summary>False when no key is configured: every caller has full access.</summary>
    public bool Enabled => _entries.Length > 0;

    /// <summary>How many keys have <paramref name="access"/>.</summary>
    public int CountOf(ApiAccess access) => _entries.Count(e => e.Access == access);

    /// <summary>The access of the key <paramref name="token"/>, or null if it is none of ours.</summary>
    public ApiAccess? Match(string token) => Find(token, e => e.KeyDigest);

    /// <summary>The access of the key whose session cookie is <paramref name="cookie"/>, or null.</summary>
    public ApiAccess? MatchSession(string cookie) => Find(cookie, e => e.SessionDigest);

    /// <summary>The session cookie's value for a key (see <see cref="SessionLabel"/>).</summary>
    public static string SessionToken(string key) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), SessionLabel))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private ApiAccess? Find(string presented, Func<Entry, byte[]> digestOf)
    {
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        ApiAccess? found = null;
        foreach (var entry in _entries) // all of them, whatever matched
            if (CryptographicOperations.FixedTimeEquals(digest, digestOf(entry)))
                found = entry.Access;
        return found;
    }

    /// <summary>Reads every configured key. Problems are added to <paramref name="errors"/> naming the entry (its
    /// setting, variable or file line), never the key.</summary>
    public static ApiKeyRing Load(ZImageServerOptions options, IConfiguration configuration, ICollection<string> errors)
    {
        var entries = new List<(string Where, string Text)>();
        for (int i = 0; i < options.ApiKeys.Count; i++)
            entries.Add(($"{ZImageServerOptions.SectionName}:ApiKeys:{i}", options.ApiKeys[i]));
        if (configuration[EnvironmentVariable] is { Length: > 0 } variable)
        {
            var parts = variable.Split([',', ';', ' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < parts.Length; i++)
                entries.Add(($"{EnvironmentVariable} entry {i + 1}", parts[i]));
        }
        if (options.ApiKeysFile is { Length: > 0 } file)
        {
            string path = Path.GetFullPath(file);
            try
            {
                var lines = File.ReadAllLines(path);
                for (int i = 0; i < lines.Length; i++)
                {
                    string line = lines[i].Trim();
                    if (line.Length > 0 && !line.StartsWith('#')) entries.Add(($"{path} line {i + 1}", line));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add($"{ZImageServerOptions.SectionName}:ApiKeysFile: cannot read {path}: {e.Message}");
            }
        }

        var keys = new Dictionary<string, (ApiAccess Access, string Where)>(StringComparer.Ordinal);
        foreach (var (where, text) in entries)
        {
            if (Parse(where, text.Trim(), errors) is not var (key, access)) continue;
            if (keys.TryGetValue(key, out var earlier))
            {
                if (earlier.Access != access)
                    errors.Add($"{where}: the same key is given twice, as {Name(earlier.Access)} in {earlier.Where} and as {Name(access)} here; keep one.");
                continue;
            }
            keys[key] = (access, where);
        }
        return new ApiKeyRing(keys.Select(k => new Entry(
            SHA256.HashData(Encoding.UTF8.GetBytes(k.Key)),
            SHA256.HashData(Encoding.UTF8.GetBytes(SessionToken(k.Key))),
            k.Value.Access)).ToArray());
    }

    private static (string Key, ApiAccess Access)? Parse(string where, string text, ICollection<string> errors)
    {
        var access = ApiAccess.Full;
        string key = text;
        int colon = text.IndexOf(':');
        if (colon >= 0)
        {
            switch (text[..colon].ToLowerInvariant())
            {
                case "read": access = ApiAccess.Read; break;
                case "full": break;
                default:
                    // Whatever stands before the colon may be part of a secret: it is not repeated.
                    errors.Add($"{where}: an entry is KEY, full:KEY or read:KEY; this one starts with something else before its ':'.");
                    return null;
            }
            key = text[(colon + 1)..];
        }
        if (key.Length < MinimumLength)
        {
            errors.Add($"{where}: a key needs at least {MinimumLength} characters (this one has {key.Length}); " +
                       "make one with `openssl rand -hex 32`.");
            return null;
        }
        if (key.Length > MaximumLength)
        {
            errors.Add($"{where}: a key may have at most {MaximumLength} characters (this one has {key.Length}).");
            return null;
        }
        if (!key.All(IsKeyCharacter))
        {
            errors.Add($"{where}: a key may hold only ASCII letters, digits and - . _ ~ + / = (hex, base64 and base64url keys do).");
            return null;
        }
        return (key, access);
    }

    private static bool IsKeyCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '+' or '/' or '=';

    internal static string Name(ApiAccess access) => access == ApiAccess.Full ? "full" : "read";

    private sealed record Entry(byte[] KeyDigest, byte[] SessionDigest, ApiAccess Access);
}
