using Npgsql;
using ZImageSharp.Server.Store;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>The PostgreSQL that scripts/install-postgres.sh started (ZIMAGE_TEST_POSTGRES, or the file it writes).
/// Each test gets a database of its own, dropped afterwards. In CI (CI=true) a missing server fails the test; on a
/// developer's machine the test is skipped, saying how to start one.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private const string DefaultFile = "/tmp/zimage-test-postgres.conn";
    private readonly string _admin;

    private TestDatabase(string admin, string name, string uri)
    {
        _admin = admin;
        Name = name;
        Uri = uri;
    }

    public string Name { get; }

    /// <summary>postgres://… for this test's database, as zimage serve --store takes it.</summary>
    public string Uri { get; }

    public string ConnectionString => StoreLocation.ToConnectionString(Uri);

    public static async Task<TestDatabase> CreateAsync()
    {
        string? server = Environment.GetEnvironmentVariable("ZIMAGE_TEST_POSTGRES");
        if (string.IsNullOrWhiteSpace(server) && File.Exists(DefaultFile)) server = (await File.ReadAllTextAsync(DefaultFile)).Trim();
        bool ci = Environment.GetEnvironmentVariable("CI") is "true" or "1";
        if (string.IsNullOrWhiteSpace(server))
        {
            const string how = "No PostgreSQL for the scale-out tests: run `eval \"$(bash scripts/install-postgres.sh)\"` (it sets ZIMAGE_TEST_POSTGRES).";
            if (ci) throw new InvalidOperationException(how + " CI must run them: .ci/run calls that script.");
            Skip.If(true, how);
        }
        string admin = StoreLocation.ToConnectionString(server!);
        string name = "zimage_test_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var connection = new NpgsqlConnection(admin);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException e) when (!ci)
        {
            Skip.If(true, $"The PostgreSQL at {StoreLocation.Redact(server!)} does not answer ({e.Message}); run scripts/install-postgres.sh.");
        }
        // The same server, this database, in the form it was given (a postgres:// URI or Npgsql's Host=… form).
        string store = server!.Contains("://")
            ? new UriBuilder(server) { Path = "/" + name }.Uri.ToString()
            : new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        return new TestDatabase(admin, name, store);
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await using var connection = new NpgsqlConnection(_admin);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // A leftover test database is harmless; the cluster is a throwaway.
        }
    }
}
