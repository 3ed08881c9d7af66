namespace ZImageSharp.Server.Tests.Infrastructure;

/// <summary>A fresh in-memory server on the fake engine for each test (xUnit makes one instance per test) and a client
/// for it: the set-up the API test classes share.</summary>
public abstract class ServerApiTests : IAsyncLifetime
{
    protected ServerFactory Server { get; } = new();
    protected HttpClient Client { get; private set; } = null!;

    /// <summary>Sets the fake engine up (its model, what it records); the client starts the server after this.</summary>
    protected virtual void Arrange() { }

    public Task InitializeAsync()
    {
        Arrange();
        Client = Server.CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
