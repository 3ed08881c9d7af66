using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>API keys (full and read-only), the page's session cookie, cross-site state changes, the Host allow-list
/// and the refusal to serve the network without a key. Keys are set the way a deployment sets them: configuration.</summary>
public sealed class SecurityTests
{
    private const string FullKey = "full-0123456789abcdef0123456789";
    private const string ReadKey = "read-0123456789abcdef0123456789";

    private static ServerFactory KeyedServer(Action<ZImageServerOptions>? configure = null) => new(configure: configure)
    {
        Settings =
        {
            ["ZImage:Server:ApiKeys:0"] = $"full:{FullKey}",
            ["ZImage:Server:ApiKeys:1"] = $"read:{ReadKey}",
        },
    };

    private static HttpClient Client(ServerFactory server, string? key)
    {
        var client = server.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = false });
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    [Fact]
    public async Task A_request_without_a_key_gets_401_with_a_bearer_challenge_in_each_apis_error_shape()
    {
        await using var server = KeyedServer();
        var client = Client(server, null);

        var response = await client.GetAsync("/api/jobs");
        var problem = await response.AssertProblem(HttpStatusCode.Unauthorized);
        Assert.Equal("urn:zimagesharp:problem:unauthorized", (string)problem["type"]!);
        Assert.Equal("unauthorized", (string)problem["code"]!);
        Assert.Contains("Authorization: Bearer", (string)problem["detail"]!);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);

        // OpenAI SDKs show error.message; their 401 is an invalid_request_error.
        var openAi = await (await client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "no key" })))
            .AssertProblem(HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_request_error", (string)openAi["error"]!["type"]!);
        Assert.Contains("API key", (string)openAi["error"]!["message"]!);

        // A wrong key is refused the same way, and the challenge says the token was wrong.
        var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/system");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-key-0123456789abcdef");
        var refused = await client.SendAsync(wrong);
        await refused.AssertProblem(HttpStatusCode.Unauthorized);
        Assert.Contains("invalid_token", refused.Headers.WwwAuthenticate.ToString());
        // A prefix of a real key is not the key.
        var prefix = new HttpRequestMessage(HttpMethod.Get, "/api/system");
        prefix.Headers.Authorization = new AuthenticationHeaderValue("Bearer", FullKey[..^1]);
        await (await client.SendAsync(prefix)).AssertProblem(HttpStatusCode.Unauthorized);

        // Everything but the page's files and the health probes is closed, unknown routes and the A1111 API included.
        foreach (string path in new[] { "/metrics", "/api/system", "/sdapi/v1/progress", "/openapi/v1.json", "/api/jobs/x/events", "/no/such/route" })
            await (await client.GetAsync(path)).AssertProblem(HttpStatusCode.Unauthorized);
        await (await client.PostAsync("/sdapi/v1/interrupt", null)).AssertProblem(HttpStatusCode.Unauthorized);
        foreach (string path in new[] { "/", "/app.js", "/app.css", "/favicon.svg", "/health/live" })
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(path)).StatusCode);
        await Requests.Eventually(() => client.GetAsync("/health/ready").Result.StatusCode == HttpStatusCode.OK, "ready");
        Assert.Equal(0, server.Generator.TotalStarted);
    }

    [Fact]
    public async Task A_read_only_key_reads_everything_but_cannot_create_cancel_delete_or_interrupt()
    {
        await using var server = KeyedServer();
        var full = Client(server, FullKey);
        var read = Client(server, ReadKey);

        // The full key creates; the read-only key follows the job and fetches its image.
        var job = await full.SubmitAsync(new { prompt = "made with the full key", steps = 1 });
        string id = (string)job["id"]!;
        Assert.Equal("succeeded", (string)(await read.WaitForEndAsync(id))["state"]!);
        Assert.Equal("image/png", (await read.GetAsync($"/api/jobs/{id}/images/0")).Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("event: done", await read.GetStringAsync($"/api/jobs/{id}/events"));
        Assert.Single((await read.GetFromJsonAsync<JsonNode>("/api/jobs"))!["jobs"]!.AsArray());
        Assert.Contains("zimage_jobs_total", await read.GetStringAsync("/metrics"));
        Assert.Equal(HttpStatusCode.OK, (await read.GetAsync("/sdapi/v1/progress")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await read.GetAsync("/api/system")).StatusCode);
        // Planning changes nothing, so a read-only key may ask.
        Assert.Equal(HttpStatusCode.OK, (await read.PostAsync("/api/plan", Requests.Json(new { prompt = "plan" }))).StatusCode);

        var problem = await (await read.PostAsync("/api/jobs", Requests.Json(new { prompt = "read-only" }))).AssertProblem(HttpStatusCode.Forbidden);
        Assert.Equal("forbidden", (string)problem["code"]!);
        Assert.Contains("read-only", (string)problem["detail"]!);
        await (await read.PostAsync($"/api/jobs/{id}/cancel", null)).AssertProblem(HttpStatusCode.Forbidden);
        await (await read.DeleteAsync($"/api/jobs/{id}")).AssertProblem(HttpStatusCode.Forbidden);
        await (await read.PostAsync("/sdapi/v1/interrupt", null)).AssertProblem(HttpStatusCode.Forbidden);
        await (await read.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "read-only" }))).AssertProblem(HttpStatusCode.Forbidden);
        await (await read.PostAsync("/sdapi/v1/options", Requests.Json(new { sd_model_checkpoint = "x" }))).AssertProblem(HttpStatusCode.Forbidden);
        var openAi = await (await read.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "read-only" }))).AssertProblem(HttpStatusCode.Forbidden);
        Assert.Contains("read-only", (string)openAi["error"]!["message"]!);
        Assert.Equal(1, server.Generator.TotalStarted);

        // The full key cancels and deletes.
        server.Generator.Hold = new TaskCompletionSource();
        var held = await full.SubmitAsync(new { prompt = "held", steps = 2 });
        await full.WaitForStateAsync((string)held["id"]!, "running");
        Assert.Equal(HttpStatusCode.Accepted, (await full.PostAsync($"/api/jobs/{held["id"]}/cancel", null)).StatusCode);
        Assert.Equal("cancelled", (string)(await full.WaitForEndAsync((string)held["id"]!))["state"]!);
        Assert.Equal(HttpStatusCode.NoContent, (await full.DeleteAsync($"/api/jobs/{id}")).StatusCode);
    }

    [Fact]
    public async Task A1111_clients_may_send_the_key_as_the_basic_auth_password()
    {
        await using var server = KeyedServer();
        var client = Client(server, null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"webui:{ReadKey}")));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/sdapi/v1/options")).StatusCode);
        await (await client.PostAsync("/sdapi/v1/interrupt", null)).AssertProblem(HttpStatusCode.Forbidden);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ReadKey}:")));
        await (await client.GetAsync("/sdapi/v1/options")).AssertProblem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Keys_come_from_ZIMAGE_API_KEYS_and_from_a_keys_file()
    {
        string folder = TempFolder.Create();
        string file = Path.Combine(folder, "keys.txt");
        await File.WriteAllTextAsync(file, "# one key a line\nread:file-read-0123456789abcdef\n\n  file-full-0123456789abcdef  \n");
        try
        {
            await using var server = new ServerFactory
            {
                Settings =
                {
                    ["ZIMAGE_API_KEYS"] = $"read:{ReadKey}, full:{FullKey}",
                    ["ZImage:Server:ApiKeysFile"] = file,
                },
            };
            Assert.Equal(HttpStatusCode.Unauthorized, (await Client(server, null).GetAsync("/api/jobs")).StatusCode);
            foreach (var (key, canWrite) in new[] { (ReadKey, false), (FullKey, true), ("file-read-0123456789abcdef", false), ("file-full-0123456789abcdef", true) })
            {
                var client = Client(server, key);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/jobs")).StatusCode);
                var submit = await client.PostAsync("/api/jobs", Requests.Json(new { prompt = key, steps = 1 }));
                Assert.Equal(canWrite ? HttpStatusCode.Accepted : HttpStatusCode.Forbidden, submit.StatusCode);
            }
        }
        finally
        {
            TempFolder.Delete(folder);
        }
    }

    [Fact]
    public async Task Bad_keys_stop_the_server_naming_the_entry_but_never_showing_the_key()
    {
        string folder = TempFolder.Create();
        try
        {
            var error = await StartFails(folder, "--ZImage:Server:ApiKeys:0=read:tiny5", "--ZImage:Server:ApiKeys:1=admin:0123456789abcdef0123");
            Assert.Contains("ZImage:Server:ApiKeys:0", error.Message);
            Assert.Contains("at least 16 characters", error.Message);
            Assert.DoesNotContain("tiny5", error.Message);
            Assert.Contains("ZImage:Server:ApiKeys:1", error.Message);
            Assert.Contains("read:", error.Message);
            Assert.DoesNotContain("0123456789abcdef0123", error.Message);

            string missing = Path.Combine(folder, "no-such-keys.txt");
            error = await StartFails(folder, $"--ZImage:Server:ApiKeysFile={missing}");
            Assert.Contains(missing, error.Message);

            error = await StartFails(folder, $"--ZImage:Server:ApiKeys:0=read:{FullKey}", $"--ZImage:Server:ApiKeys:1=full:{FullKey}");
            Assert.Contains("twice", error.Message);
        }
        finally
        {
            TempFolder.Delete(folder);
        }
    }

    [Fact]
    public async Task The_pages_session_cookie_is_http_only_strict_and_reads_but_never_changes_anything()
    {
        await using var server = KeyedServer();
        var anonymous = Client(server, null);
        var status = await anonymous.GetFromJsonAsync<JsonNode>("/api/session");
        Assert.True((bool)status!["auth_required"]!);
        Assert.Null(status["access"]);
        await (await anonymous.PostAsync("/api/session", null)).AssertProblem(HttpStatusCode.Unauthorized);

        var full = Client(server, FullKey);
        var job = await full.SubmitAsync(new { prompt = "cookie", steps = 1 });
        string id = (string)job["id"]!;
        await full.WaitForEndAsync(id);

        var session = await full.PostAsync("/api/session", null);
        Assert.Equal(HttpStatusCode.OK, session.StatusCode);
        Assert.Equal("full", (string)(await session.ReadJson())["access"]!);
        string setCookie = session.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith("zimage_session=", setCookie);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", setCookie, StringComparison.OrdinalIgnoreCase);
        string cookie = setCookie.Split(';')[0];
        Assert.DoesNotContain(FullKey, cookie);

        // What EventSource and <img> can do: read, with the cookie alone.
        var withCookie = Client(server, null);
        withCookie.DefaultRequestHeaders.Add("Cookie", cookie);
        Assert.StartsWith("event: done", await withCookie.GetStringAsync($"/api/jobs/{id}/events"));
        Assert.Equal(HttpStatusCode.OK, (await withCookie.GetAsync($"/api/jobs/{id}/images/0")).StatusCode);
        Assert.Equal("read", (string)(await withCookie.GetFromJsonAsync<JsonNode>("/api/session"))!["access"]!);
        // Even a full key's cookie never changes anything: state changes need the Authorization header.
        await (await withCookie.PostAsync("/api/jobs", Requests.Json(new { prompt = "by cookie" }))).AssertProblem(HttpStatusCode.Unauthorized);
        await (await withCookie.DeleteAsync($"/api/jobs/{id}")).AssertProblem(HttpStatusCode.Unauthorized);
        await (await withCookie.PostAsync("/api/session", null)).AssertProblem(HttpStatusCode.Unauthorized);

        var forget = await withCookie.DeleteAsync("/api/session");
        Assert.Equal(HttpStatusCode.NoContent, forget.StatusCode);
        Assert.Contains("expires=Thu, 01 Jan 1970", forget.Headers.GetValues("Set-Cookie").Single(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, server.Generator.TotalStarted);
    }

    [Fact]
    public async Task A_server_without_keys_says_so_and_sets_no_cookie()
    {
        await using var server = new ServerFactory();
        var client = Client(server, null);
        var status = await client.GetFromJsonAsync<JsonNode>("/api/session");
        Assert.False((bool)status!["auth_required"]!);
        Assert.Equal("full", (string)status["access"]!);
        var session = await client.PostAsync("/api/session", null);
        Assert.Equal(HttpStatusCode.OK, session.StatusCode);
        Assert.False(session.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task Cross_site_state_changes_are_refused_even_without_a_body_and_the_servers_own_page_still_works()
    {
        await using var server = new ServerFactory();
        var client = server.CreateClient();
        server.Generator.Hold = new TaskCompletionSource();
        var txt2img = client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "kept running", steps = 4 }));
        await Requests.Eventually(() => server.Generator.Started("kept running") == 1, "the A1111 job starts");

        // What a hostile page's fetch(..., {method: "POST", mode: "no-cors"}) or form post sends.
        async Task<JsonNode> Refused(HttpMethod method, string path, HttpContent? body, params (string Name, string Value)[] headers)
        {
            var request = new HttpRequestMessage(method, path) { Content = body };
            foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
            var problem = await (await client.SendAsync(request)).AssertProblem(HttpStatusCode.Forbidden);
            Assert.Equal("cross_site", (string)problem["code"]!);
            return problem;
        }
        var first = await Refused(HttpMethod.Post, "/sdapi/v1/interrupt", null, ("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site"));
        Assert.Contains("http://evil.example", (string)first["detail"]!);
        await Refused(HttpMethod.Post, "/sdapi/v1/interrupt", null, ("Sec-Fetch-Site", "cross-site"));
        await Refused(HttpMethod.Post, "/sdapi/v1/interrupt", null, ("Origin", "http://evil.example"));
        // Another port on the same host is the same site but another origin.
        await Refused(HttpMethod.Post, "/sdapi/v1/interrupt", null, ("Origin", "http://localhost:3000"), ("Sec-Fetch-Site", "same-site"));
        await Refused(HttpMethod.Post, "/sdapi/v1/interrupt", null, ("Origin", "null"));
        await Refused(HttpMethod.Post, "/api/jobs", Requests.Json(new { prompt = "csrf" }), ("Origin", "http://evil.example"));
        await Refused(HttpMethod.Delete, "/api/jobs/anything", null, ("Origin", "https://evil.example"));
        await Refused(HttpMethod.Post, "/api/jobs", new StringContent("prompt=csrf", Encoding.UTF8, "text/plain"), ("Sec-Fetch-Site", "cross-site"));
        Assert.Equal(0, server.Generator.Cancelled);
        Assert.Equal(0, server.Generator.Started("csrf"));

        // Reads stay open to anyone the same-origin policy lets read (nobody cross-site): no change, no refusal.
        var read = new HttpRequestMessage(HttpMethod.Get, "/sdapi/v1/progress");
        read.Headers.Add("Origin", "http://evil.example");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(read)).StatusCode);

        // The server's own page, and clients that send no Origin at all (curl, SDKs), may change state.
        var own = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/interrupt");
        own.Headers.Add("Origin", "http://localhost");
        own.Headers.Add("Sec-Fetch-Site", "same-origin");
        Assert.Equal(1, (int)(await (await client.SendAsync(own)).ReadJson())["interrupted"]!);
        await (await txt2img).AssertProblem(HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/sdapi/v1/interrupt", null)).StatusCode);
    }

    [Fact]
    public async Task A_configured_origin_may_change_state_for_a_proxy_that_rewrites_the_host()
    {
        await using var server = new ServerFactory { Settings = { ["ZImage:Server:AllowedOrigins:0"] = "https://gpu.example.com" } };
        var client = server.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/interrupt");
        request.Headers.Add("Origin", "https://gpu.example.com");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
        request = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/interrupt");
        request.Headers.Add("Origin", "http://gpu.example.com"); // not https: another origin
        await (await client.SendAsync(request)).AssertProblem(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task An_unknown_host_header_is_refused_and_loopback_names_and_configured_hosts_are_served()
    {
        await using var server = new ServerFactory
        {
            Settings = { ["ZImage:Server:AllowedHosts:0"] = "gpu.example.com", ["ZImage:Server:AllowedHosts:1"] = "*.lan" },
        };
        var client = server.CreateClient();
        async Task<HttpResponseMessage> Get(string host)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/api/system");
            request.Headers.Host = host;
            return await client.SendAsync(request);
        }
        // What a DNS-rebinding page sends: its own name, now resolving to this machine.
        foreach (string host in new[] { "evil.example", "evil.example:7860", "localhost.evil.example", "127.0.0.1.nip.io", "lan", "gpu.example.com.evil.example" })
        {
            var problem = await (await Get(host)).AssertProblem(HttpStatusCode.MisdirectedRequest);
            Assert.Equal("unknown_host", (string)problem["code"]!);
            Assert.Contains("ZImage:Server:AllowedHosts", (string)problem["detail"]!);
        }
        foreach (string host in new[] { "localhost", "localhost:7860", "LOCALHOST", "127.0.0.1:7860", "[::1]:7860", "app.localhost", "gpu.example.com", "box.lan:7860" })
            Assert.True(HttpStatusCode.OK == (await Get(host)).StatusCode, host);
    }

    [Fact]
    public async Task Binding_to_the_network_without_a_key_refuses_to_start_and_says_how_to_fix_it()
    {
        string folder = TempFolder.Create();
        try
        {
            foreach (string urls in new[] { "http://0.0.0.0:0", "http://127.0.0.1:0;http://[::]:0", "http://*:0" })
            {
                var error = await StartFails(folder, "--urls", urls);
                Assert.Contains("API key", error.Message);
                Assert.Contains("ZIMAGE_API_KEYS", error.Message);
                Assert.Contains("--insecure-no-auth", error.Message);
            }
            Assert.Contains("API key", (await StartFails(folder, "--http_ports=0")).Message);

            // With a key it starts; with the explicit opt-out it starts and warns.
            await using (var keyed = ZImageServerHost.Build(["--urls", "http://0.0.0.0:0", $"--ZImage:Server:DataDirectory={folder}",
                             $"--ZImage:Server:ApiKeys:0={FullKey}"], TestHostProgram.RegisterFakes))
            {
                await keyed.StartAsync();
                await keyed.StopAsync();
            }
            var logs = new CapturedLogs();
            await using (var open = ZImageServerHost.Build(["--urls", "http://0.0.0.0:0", $"--ZImage:Server:DataDirectory={folder}",
                             "--ZImage:Server:AllowUnauthenticatedNetwork=true"], services =>
                         {
                             TestHostProgram.RegisterFakes(services);
                             services.AddLogging(logging => logging.AddProvider(logs));
                         }))
            {
                await open.StartAsync();
                await open.StopAsync();
            }
            Assert.Contains(logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("without authentication"));
        }
        finally
        {
            TempFolder.Delete(folder);
        }
    }

    [Fact]
    public async Task A_keyless_server_refuses_requests_that_come_from_another_machine()
    {
        await using var server = new ServerFactory();
        _ = server.CreateClient();
        var remote = await server.Server.SendAsync(context =>
        {
            context.Request.Method = "POST";
            context.Request.Path = "/sdapi/v1/interrupt";
            context.Connection.RemoteIpAddress = IPAddress.Parse("192.168.1.20");
        });
        Assert.Equal(Microsoft.AspNetCore.Http.StatusCodes.Status403Forbidden, remote.Response.StatusCode);
        var local = await server.Server.SendAsync(context =>
        {
            context.Request.Method = "POST";
            context.Request.Path = "/sdapi/v1/interrupt";
            context.Connection.RemoteIpAddress = IPAddress.Parse("::ffff:127.0.0.1");
        });
        Assert.Equal(Microsoft.AspNetCore.Http.StatusCodes.Status200OK, local.Response.StatusCode);
    }

    /// <summary>Builds and starts a server with <paramref name="args"/>; returns why it would not start.</summary>
    private static async Task<Exception> StartFails(string folder, params string[] args)
    {
        try
        {
            await using var app = ZImageServerHost.Build([.. args, $"--ZImage:Server:DataDirectory={folder}"], TestHostProgram.RegisterFakes);
            await app.StartAsync();
            await app.StopAsync();
        }
        catch (Exception e)
        {
            return e;
        }
        throw new Xunit.Sdk.XunitException($"The server started with {string.Join(' ', args)}.");
    }
}

/// <summary>The pieces of the guard on their own: which Host headers pass, which listen addresses are loopback.</summary>
public sealed class SecurityUnitTests
{
    [Fact]
    public void Listening_on_every_address_admits_any_ip_literal_and_the_machines_name_but_not_other_names()
    {
        var every = new ZImageSharp.Server.Security.HostAllowList([], ["0.0.0.0"]);
        Assert.True(every.Allows("10.1.2.3"));
        Assert.True(every.Allows("[fe80::1]"));
        Assert.True(every.Allows(System.Net.Dns.GetHostName()));
        Assert.True(every.Allows(System.Net.Dns.GetHostName() + ".local"));
        Assert.False(every.Allows("evil.example"));

        var one = new ZImageSharp.Server.Security.HostAllowList([], ["192.168.1.5"]);
        Assert.True(one.Allows("192.168.1.5"));
        Assert.True(one.Allows("127.0.0.1"));
        Assert.False(one.Allows("10.1.2.3"));
        Assert.False(one.Allows(System.Net.Dns.GetHostName() + ".evil.example"));

        var named = new ZImageSharp.Server.Security.HostAllowList([], ["gpu-box.lan"]);
        Assert.True(named.Allows("GPU-BOX.lan."));
        Assert.False(new ZImageSharp.Server.Security.HostAllowList([], ["localhost"]).Allows("10.1.2.3"));
        Assert.True(new ZImageSharp.Server.Security.HostAllowList(["*"], ["localhost"]).Allows("evil.example"));
    }

    [Theory]
    [InlineData("http://127.0.0.1:7860", true)]
    [InlineData("http://localhost:7860", true)]
    [InlineData("http://[::1]:7860", true)]
    [InlineData("http://unix:/run/zimage.sock", true)]
    [InlineData("http://0.0.0.0:7860", false)]
    [InlineData("http://[::]:7860", false)]
    [InlineData("http://*:7860", false)]
    [InlineData("http://+:7860", false)]
    [InlineData("http://192.168.1.5:7860", false)]
    [InlineData("https://gpu.example.com:443", false)]
    public void Loopback_listen_addresses_are_told_from_network_ones(string url, bool loopback) =>
        Assert.Equal(loopback, ZImageSharp.Server.Security.ListenAddresses.IsLoopback(url));

    [Fact]
    public void The_session_token_is_derived_from_the_key_and_does_not_contain_it()
    {
        const string key = "0123456789abcdef0123456789abcdef";
        string token = ZImageSharp.Server.Security.ApiKeyRing.SessionToken(key);
        Assert.Equal(token, ZImageSharp.Server.Security.ApiKeyRing.SessionToken(key));
        Assert.NotEqual(token, ZImageSharp.Server.Security.ApiKeyRing.SessionToken(key[..^1] + "0"));
        Assert.DoesNotContain(key[..8], token);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", token);
    }
}

