using System.Text.Json.Nodes;
using TorchSharp;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Weights;

/// <summary>
/// A complete, loadable checkpoint of the demo model's toy widths (Assets/demo-model.json): a diffusers folder with
/// configs and weights, whose component files double as ComfyUI-style single files. Built once per test run (the
/// text encoder's 151936-row embedding makes it 20 MB); tests copy or point at its files, never change them.
/// </summary>
internal static class TinyCheckpoint
{
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>The diffusers folder.</summary>
    public static string Folder => Built.Value;

    public static string TransformerFile => Path.Combine(Folder, "transformer", "diffusion_pytorch_model.safetensors");
    public static string TextEncoderFile => Path.Combine(Folder, "text_encoder", "model.safetensors");
    public static string VaeFile => Path.Combine(Folder, "vae", "diffusion_pytorch_model.safetensors");

    /// <summary>A copy of the folder in <paramref name="target"/> that a test may break.</summary>
    public static string CopyTo(string target)
    {
        foreach (var file in Directory.EnumerateFiles(Folder, "*", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(target, Path.GetRelativePath(Folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        return target;
    }

    private static string Build()
    {
        string root = Directory.CreateTempSubdirectory("zimage-tiny-checkpoint-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        };
        var demo = JsonNode.Parse(File.ReadAllText(Path.Combine(ModelFactory.AssetsFolder, "demo-model.json")))!;
        void Text(string relative, string text)
        {
            string path = Path.Combine(root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        void Weights(string relative, torch.nn.Module module)
        {
            string path = Path.Combine(root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            SafetensorsWriter.Write(path, module.state_dict().ToList());
        }

        using (var models = ModelFactory.Demo(torch.CPU, torch.ScalarType.Float32, torch.ScalarType.Float32))
        {
            Text("model_index.json", """{"_class_name": "ZImagePipeline"}""");
            Text("transformer/config.json", demo["transformer"]!.ToJsonString());
            Weights("transformer/diffusion_pytorch_model.safetensors", models.Transformer);
            Text("text_encoder/config.json", demo["text_encoder"]!.ToJsonString());
            Weights("text_encoder/model.safetensors", models.TextEncoder);
            Text("vae/config.json", demo["vae"]!.ToJsonString());
            Weights("vae/diffusion_pytorch_model.safetensors", models.Vae);
            Text("scheduler/scheduler_config.json", """{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}""");
        }
        foreach (var file in Directory.EnumerateFiles(ModelFactory.BuiltInTokenizerFolder))
        {
            Directory.CreateDirectory(Path.Combine(root, "tokenizer"));
            File.Copy(file, Path.Combine(root, "tokenizer", Path.GetFileName(file)));
        }
        return root;
    }
}
