using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ZImageSharp.Server.Tests.Infrastructure;

public static class Requests
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static StringContent Json(object body) => Json(JsonSerializer.Serialize(body));

    /// <summary>A multipart form as OpenAI's SDKs send images/edits: byte arrays as PNG files named after their
    /// field, anything else as a text field.</summary>
    public static MultipartFormDataContent Form(params (string Name, object Value)[] parts)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in parts)
        {
            if (value is byte[] bytes)
            {
                var file = new ByteArrayContent(bytes);
                file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                form.Add(file, name, name + ".png");
            }
            else form.Add(new StringContent(value.ToString()!), name);
        }
        return form;
    }

    public static async Task<JsonNode> ReadJson(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync()) ?? throw new InvalidDataException("Empty JSON body.");

    public static async Task<JsonNode> SubmitAsync(this HttpClient client, object body)
    {
        var response = await client.PostAsync("/api/jobs", Json(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return await response.ReadJson();
    }

    /// <summary>Polls a job until it is no longer queued or running.</summary>
    public static async Task<JsonNode> WaitForEndAsync(this HttpClient client, string id, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var status = await client.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}") ?? throw new InvalidDataException();
            string state = (string)status["state"]!;
            if (state is not ("queued" or "running")) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Job {id} is still {state}.");
            await Task.Delay(10);
        }
    }

    public static async Task<JsonNode> WaitForStateAsync(this HttpClient client, string id, string wanted, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var status = await client.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}") ?? throw new InvalidDataException();
            if ((string)status["state"]! == wanted) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Job {id} is {status["state"]}, not {wanted}.");
            await Task.Delay(10);
        }
    }

    /// <summary>Asserts a problem+json answer with the status, and returns it.</summary>
    public static async Task<JsonNode> AssertProblem(this HttpResponseMessage response, HttpStatusCode status)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(body)!;
    }

    public static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting until {what}.");
            await Task.Delay(5);
        }
    }
}
