using Microsoft.Extensions.Options;
using Npgsql;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Store;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>The Store setting: the URI form most providers give, Npgsql's own form, and clear refusals. No database needed.</summary>
public sealed class StoreSettingsTests
{
    [Fact]
    public void A_postgres_uri_becomes_an_npgsql_connection_string_with_its_parts_decoded()
    {
        var built = new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString(
            "postgres://zimage:p%40ss%3Aword@db.lan:6543/zimage_prod?sslmode=require&application_name=gpu-7"));
        Assert.Equal("db.lan", built.Host);
        Assert.Equal(6543, built.Port);
        Assert.Equal("zimage_prod", built.Database);
        Assert.Equal("zimage", built.Username);
        Assert.Equal("p@ss:word", built.Password);
        Assert.Equal(SslMode.Require, built.SslMode);
        Assert.Equal("gpu-7", built.ApplicationName);

        var defaults = new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString("postgresql://db"));
        Assert.Equal((5432, "postgres"), (defaults.Port, defaults.Database));
        Assert.Equal("db2", new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString("Host=db2;Database=z")).Host);
    }

    [Theory]
    [InlineData("postgres://u:pw@db/z?sslmode=sometimes", "sslmode 'sometimes' is not one of")]
    [InlineData("postgres://u:pw@db/z?frobnicate=1", "parameter 'frobnicate' is not one PostgreSQL (Npgsql) knows")]
    [InlineData("postgres://u:pw@db:port/z", "is not a postgres://user:password@host:port/database URI")]
    public void A_bad_store_is_refused_naming_the_problem_and_never_the_password(string store, string expected)
    {
        var error = Assert.Throws<FormatException>(() => StoreLocation.ToConnectionString(store));
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain("pw", error.Message.Replace("password", ""));
    }

    [Fact]
    public void Redact_drops_the_password_from_both_forms()
    {
        Assert.Equal("postgres://zimage@db.lan:6543/prod", StoreLocation.Redact("postgres://zimage:secret@db.lan:6543/prod"));
        Assert.DoesNotContain("secret", StoreLocation.Redact("Host=db;Username=z;Password=secret;Database=d"));
        Assert.DoesNotContain("secret", StoreLocation.Redact("postgres://z:secret@db:nope/d"));
    }

    [Theory]
    [InlineData("sqlite", 0, "GpuCount is 0 (an API-only node), which needs a shared store")]
    [InlineData("mysql://root@db/z", 1, "Store must be sqlite or a PostgreSQL connection")]
    [InlineData("postgres://db/z?sslmode=maybe", 1, "sslmode 'maybe'")]
    public void The_options_validator_stops_a_server_that_could_not_work(string store, int gpus, string expected)
    {
        var result = new StoreOptionsValidator().Validate(null, new ZImageServerOptions { Store = store, GpuCount = gpus });
        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage);
        Assert.True(new StoreOptionsValidator().Validate(null, new ZImageServerOptions { Store = "postgres://db/z", GpuCount = 0 }).Succeeded);
        Assert.True(new StoreOptionsValidator().Validate(null, new ZImageServerOptions()).Succeeded);
    }
}
