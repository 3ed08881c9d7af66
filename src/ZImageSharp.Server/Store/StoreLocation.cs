using Microsoft.Extensions.Options;
using System.Text.RegularExpressions;
using Npgsql;
using ZImageSharp.Server.Hosting;

namespace ZImageSharp.Server.Store;

/// <summary>Turns <see cref="ZImageServerOptions.Store"/> into an Npgsql connection string: a
/// <c>postgres://user:password@host:port/database?sslmode=require</c> URI (the form libpq and most hosting
/// providers give) or Npgsql's own <c>Host=…;Database=…</c> form.</summary>
public static class StoreLocation
{
    public static bool IsPostgres(string store) =>
        store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
        || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || store.Contains('=');

    /// <summary>The Npgsql connection string; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static string ToConnectionString(string store)
    {
        if (!store.Contains("://"))
        {
            try
            {
                return new NpgsqlConnectionStringBuilder(store).ConnectionString;
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"Store: '{Redact(store)}' is not a PostgreSQL connection string ({e.Message}).");
            }
        }
        if (!Uri.TryCreate(store, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql") || uri.Host.Length == 0)
            throw new FormatException($"Store: '{Redact(store)}' is not a postgres://user:password@host:port/database URI.");
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/')) is { Length: > 0 } database ? database : "postgres",
        };
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) builder.Password = Uri.UnescapeDataString(parts[1]);
        }
        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = pair.Split('=', 2);
            string key = Uri.UnescapeDataString(kv[0]), value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            try
            {
                // libpq's names where Npgsql's differ; the rest (Pooling, Timeout, …) pass through as Npgsql keywords.
                builder[key.ToLowerInvariant() switch
                {
                    "sslmode" => "SSL Mode",
                    "application_name" => "Application Name",
                    "connect_timeout" => "Timeout",
                    _ => key,
                }] = key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? SslMode(value) : value;
            }
            catch (ArgumentException)
            {
                throw new FormatException($"Store: the URI's parameter '{key}' is not one PostgreSQL (Npgsql) knows.");
            }
        }
        return builder.ConnectionString;
    }

    /// <summary>The store as it may be logged or shown: without its password.</summary>
    public static string Redact(string store)
    {
        if (store.Contains("://"))
            return Uri.TryCreate(store, UriKind.Absolute, out var uri)
                ? $"{uri.Scheme}://{(uri.UserInfo.Length > 0 ? uri.UserInfo.Split(':')[0] + "@" : "")}{uri.Host}{(uri.IsDefaultPort ? "" : $":{uri.Port}")}{uri.AbsolutePath}"
                : Regex.Replace(store, "://([^:@/]*):[^@]*@", "://$1@"); // unparseable: shown as given, less its password
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(store);
            return $"Host={builder.Host};Port={builder.Port};Database={builder.Database};Username={builder.Username}";
        }
        catch (ArgumentException)
        {
            return "(unreadable connection string)";
        }
    }

    private static string SslMode(string libpq) => libpq.ToLowerInvariant() switch
    {
        "disable" => "Disable",
        "allow" => "Allow",
        "prefer" => "Prefer",
        "require" => "Require",
        "verify-ca" => "VerifyCA",
        "verify-full" => "VerifyFull",
        _ => throw new FormatException($"Store: sslmode '{libpq}' is not one of disable, allow, prefer, require, verify-ca, verify-full."),
    };
}

/// <summary>Checks the store settings at startup, with the other options: a bad connection string or an API-only
/// node without a shared store stops the server before it loads its engine.</summary>
internal sealed class StoreOptionsValidator : IValidateOptions<ZImageServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ZImageServerOptions options)
    {
        var errors = new List<string>();
        string section = ZImageServerOptions.SectionName;
        if (options.IsSharedStore)
        {
            if (!StoreLocation.IsPostgres(options.Store))
                errors.Add($"{section}:Store must be sqlite or a PostgreSQL connection (postgres://user:password@host:5432/database) " +
                           $"(got '{StoreLocation.Redact(options.Store)}').");
            else
            {
                try { StoreLocation.ToConnectionString(options.Store); }
                catch (FormatException e) { errors.Add($"{section}:{e.Message}"); }
            }
        }
        else if (options.GpuCount == 0)
            errors.Add($"{section}:GpuCount is 0 (an API-only node), which needs a shared store ({section}:Store=postgres://…, " +
                       "zimage serve --store): with SQLite no worker would ever run its jobs.");
        if (!string.IsNullOrWhiteSpace(options.S3Bucket))
        {
            if (!Uri.TryCreate(options.S3Endpoint, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
                errors.Add($"{section}:S3Endpoint must be the S3-compatible store's http(s) address (http://minio.lan:9000) when S3Bucket is set.");
            if (string.IsNullOrEmpty(options.ResolvedS3AccessKey) || string.IsNullOrEmpty(options.ResolvedS3SecretKey))
                errors.Add($"{section}:S3Bucket needs credentials: {section}:S3AccessKey and :S3SecretKey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.");
        }
        if (options.NodeName is { } node && (node.Length > 100 || node.Any(char.IsControl) || node.Contains('/')))
            errors.Add($"{section}:NodeName must be at most 100 characters, without '/' or control characters.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
