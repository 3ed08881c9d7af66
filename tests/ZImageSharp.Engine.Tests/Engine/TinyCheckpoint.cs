using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Weights;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>
/// The built-in demo model written as an official diffusers folder (model_index.json, transformer/, text_encoder/,
/// vae/, scheduler/; configs from the demo's JSON, weights from its seeded modules), so the checkpoint path — headers,
/// loading by the plan, re-reads — runs on the CPU exactly as with the released folder. The transformer is stored in
/// F32 and sharded in two, as the release stores it; the text encoder and VAE in bf16, as the release does.
/// </summary>
internal sealed class TinyCheckpoint : IDisposable
{
    private readonly TempFolder _folder = new();

    public string Path => _folder.Path;

    public TinyCheckpoint()
    {
        var demoJson = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(ModelFactory.AssetsFolder, "demo-model.json")))!;
        using var models = ModelFactory.Demo(torch.CPU, torch.ScalarType.Float32, torch.ScalarType.Float32);
        File.WriteAllText(_folder.File("model_index.json"), """{"_class_name": "ZImagePipeline"}""");
        foreach (var file in Directory.GetFiles(ModelFactory.BuiltInTokenizerFolder))
            File.Copy(file, _folder.File("tokenizer/" + System.IO.Path.GetFileName(file)));
        File.WriteAllText(_folder.File("transformer/config.json"), demoJson["transformer"]!.ToJsonString());
        File.WriteAllText(_folder.File("text_encoder/config.json"), demoJson["text_encoder"]!.ToJsonString());
        File.WriteAllText(_folder.File("vae/config.json"), demoJson["vae"]!.ToJsonString());
        File.WriteAllText(_folder.File("scheduler/scheduler_config.json"),
            JsonSerializer.Serialize(new { shift = models.Shift, num_train_timesteps = 1000 }));

        WriteSharded("transformer", "diffusion_pytorch_model", models.Transformer, torch.ScalarType.Float32);
        WriteSharded("text_encoder", "model", models.TextEncoder, torch.ScalarType.BFloat16, prefix: "model.");
        using var noGrad = torch.no_grad();
        SafetensorsWriter.Write(_folder.File("vae/diffusion_pytorch_model.safetensors"),
            models.Vae.named_parameters().Select(p => new KeyValuePair<string, torch.Tensor>(p.name, p.parameter.to(torch.ScalarType.BFloat16))).ToList());
    }

    /// <summary>Two shards and an index, the tensors split half and half.</summary>
    private void WriteSharded(string folder, string stem, torch.nn.Module module, torch.ScalarType dtype, string prefix = "")
    {
        using var noGrad = torch.no_grad();
        var tensors = module.named_parameters().Select(p => (Name: prefix + p.name, Tensor: p.parameter.to(dtype))).ToList();
        var weightMap = new JsonObject();
        int half = tensors.Count / 2;
        for (int shard = 0; shard < 2; shard++)
        {
            string file = $"{stem}-0000{shard + 1}-of-00002.safetensors";
            var part = tensors.Skip(shard * half).Take(shard == 0 ? half : tensors.Count - half).ToList();
            SafetensorsWriter.Write(_folder.File($"{folder}/{file}"), part.Select(t => new KeyValuePair<string, torch.Tensor>(t.Name, t.Tensor)).ToList());
            foreach (var t in part) weightMap[t.Name] = file;
        }
        File.WriteAllText(_folder.File($"{folder}/{stem}.safetensors.index.json"), new JsonObject { ["weight_map"] = weightMap }.ToJsonString());
        foreach (var t in tensors) t.Tensor.Dispose();
    }

    public void Dispose() => _folder.Dispose();
}
