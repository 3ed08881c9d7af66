using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests;

/// <summary>Methods and content negotiation: every route names the methods it serves, and an error is problem+json
/// whatever the client said it accepts.</summary>
public sealed class HttpSemanticsTests
{
    private static readonly HttpMethod[] Methods =
        [HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Trace, HttpMethod.Options];

    [Fact]
    public async Task Metrics_answers_put_delete_and_trace_with_405_and_an_allow_header()
    {
        await using var server = new ServerFactory();
        var client = server.CreateClient();
        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Delete, HttpMethod.Trace, HttpMethod.Post })
        {
            var response = await client.SendAsync(new HttpRequestMessage(method, "/metrics"));
            var problem = await response.AssertProblem(HttpStatusCode.MethodNotAllowed);
            Assert.Equal("method_not_allowed", (string)problem["code"]!);
            Assert.Contains($"{method.Method} /metrics", (string)problem["detail"]!);
            Assert.Equal(["GET"], response.Content.Headers.Allow);
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task Every_route_names_its_methods_and_answers_the_others_with_405_and_allow()
    {
        await using var server = new ServerFactory();
        var client = server.CreateClient();
        var routes = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .GroupBy(e => e.RoutePattern.RawText!.TrimEnd('/') is { Length: > 0 } p ? "/" + p.TrimStart('/') : "/")
            .ToList();
        Assert.True(routes.Count > 20, $"only {routes.Count} routes found");
        foreach (var route in routes)
        {
            var served = route.SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"]).ToHashSet();
            Assert.False(served.Contains("*"), $"{route.Key} answers every method.");
            string path = System.Text.RegularExpressions.Regex.Replace(route.Key, @"\{[^}]+\}", "x");
            foreach (var method in Methods.Where(m => !served.Contains(m.Method)))
            {
                var response = await client.SendAsync(new HttpRequestMessage(method, path));
                await response.AssertProblem(HttpStatusCode.MethodNotAllowed);
                Assert.Equal(served.Order(), response.Content.Headers.Allow.Order());
            }
        }
    }

    [Fact]
    public async Task An_event_stream_request_for_an_unknown_job_is_a_404_problem_not_a_500()
    {
        // Over a real socket: Kestrel is where the empty 500 showed.
        await using var server = await LiveServer.StartAsync(new FakeImageGenerator());
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/jobs/0197a1c4e2f37c2a9d1f0e5b8a7c6d5e/events");
        request.Headers.Add("Accept", "text/event-stream");
        request.Headers.Add("Cache-Control", "no-cache");
        var problem = await (await client.SendAsync(request)).AssertProblem(HttpStatusCode.NotFound);
        Assert.Equal("not_found", (string)problem["code"]!);
        Assert.Contains("0197a1c4e2f37c2a9d1f0e5b8a7c6d5e", (string)problem["detail"]!);

        // The same for a validation error and an unknown route, whatever the client accepts.
        foreach (string accept in new[] { "text/event-stream", "image/png", "text/html" })
        {
            var submit = new HttpRequestMessage(HttpMethod.Post, "/api/jobs") { Content = Requests.Json(new { prompt = "x", steps = 0 }) };
            submit.Headers.Add("Accept", accept);
            var invalid = await (await client.SendAsync(submit)).AssertProblem(HttpStatusCode.BadRequest);
            Assert.NotNull(invalid["errors"]!["steps"]);
            var unknown = new HttpRequestMessage(HttpMethod.Get, "/no/such/route");
            unknown.Headers.Add("Accept", accept);
            Assert.Equal("not_found", (string)(await (await client.SendAsync(unknown)).AssertProblem(HttpStatusCode.NotFound))["code"]!);
        }
    }
}
