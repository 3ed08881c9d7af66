using ZImageSharp.Errors;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Where the user's weights are: the official diffusers folder, and/or single files as ComfyUI users download them
/// (a single file given for a component replaces that component of the folder).
/// </summary>
public sealed record CheckpointPaths
{
    /// <summary>The diffusers folder (model_index.json, transformer/, text_encoder/, vae/, tokenizer/, scheduler/).</summary>
    public string? Folder { get; init; }

    /// <summary>A single-file DiT, e.g. ComfyUI's <c>z_image_turbo_bf16.safetensors</c> or an fp8 e4m3 variant.</summary>
    public string? DiffusionModel { get; init; }

    /// <summary>A single-file Qwen3-4B text encoder, e.g. ComfyUI's <c>qwen_3_4b.safetensors</c>.</summary>
    public string? TextEncoder { get; init; }

    /// <summary>A single-file VAE, e.g. Flux's <c>ae.safetensors</c>.</summary>
    public string? Vae { get; init; }

    /// <summary>A tokenizer folder (tokenizer.json, or vocab.json + merges.txt); defaults to the folder's tokenizer/.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>The paths an engine's options name.</summary>
    public static CheckpointPaths For(EngineOptions options) => new()
    {
        Folder = options.ModelPath,
        DiffusionModel = options.DiffusionModelPath,
        TextEncoder = options.TextEncoderPath,
        Vae = options.VaePath,
        Tokenizer = options.TokenizerPath,
    };
}

/// <summary>One component's files. Its weights always open in diffusers names (through <see cref="CheckpointKeyMap"/>).</summary>
/// <param name="WeightsPath">A .safetensors file or a .safetensors.index.json of shards.</param>
/// <param name="ConfigPath">The component's config JSON; null when the released defaults apply (single files carry no config).</param>
public sealed record ComponentCheckpoint(ModelComponent Component, string WeightsPath, string? ConfigPath)
{
    /// <summary>Opens the weights in the names our models use. The caller disposes the source.</summary>
    public KeyMappedSource OpenWeights() => CheckpointKeyMap.For(Component, WeightSource.Open(WeightsPath));
}

/// <summary>
/// The files of one Z-Image checkpoint, recognised and checked before anything is loaded. A diffusers folder must be
/// complete; every missing file is reported at once, with what was expected in its place.
/// </summary>
public sealed class CheckpointLayout
{
    public const string ModelIndexFile = "model_index.json";

    private static readonly Dictionary<ModelComponent, (string Folder, string Config, string WeightsStem)> DiffusersParts = new()
    {
        [ModelComponent.Transformer] = ("transformer", "config.json", "diffusion_pytorch_model"),
        [ModelComponent.TextEncoder] = ("text_encoder", "config.json", "model"),
        [ModelComponent.Vae] = ("vae", "config.json", "diffusion_pytorch_model"),
    };

    private const string TokenizerFolder = "tokenizer";
    private const string SchedulerConfig = "scheduler/scheduler_config.json";

    /// <summary>The diffusers folder; null for single files only.</summary>
    public string? Folder { get; }

    /// <summary>model_index.json of the folder; null for single files only.</summary>
    public string? ModelIndexPath { get; }

    public ComponentCheckpoint Transformer { get; }
    public ComponentCheckpoint TextEncoder { get; }
    public ComponentCheckpoint Vae { get; }

    /// <summary>The tokenizer folder; null when none was given (single files: the caller uses its bundled Qwen tokenizer).</summary>
    public string? TokenizerPath { get; }

    /// <summary>scheduler_config.json; null when the released defaults apply.</summary>
    public string? SchedulerConfigPath { get; }

    public ComponentCheckpoint this[ModelComponent component] => component switch
    {
        ModelComponent.Transformer => Transformer,
        ModelComponent.TextEncoder => TextEncoder,
        ModelComponent.Vae => Vae,
        _ => throw new ArgumentOutOfRangeException(nameof(component)),
    };

    public IEnumerable<ComponentCheckpoint> Components => [Transformer, TextEncoder, Vae];

    private CheckpointLayout(string? folder, ComponentCheckpoint transformer, ComponentCheckpoint textEncoder,
        ComponentCheckpoint vae, string? tokenizer, string? schedulerConfig)
    {
        Folder = folder;
        ModelIndexPath = folder is null ? null : Path.Combine(folder, ModelIndexFile);
        Transformer = transformer;
        TextEncoder = textEncoder;
        Vae = vae;
        TokenizerPath = tokenizer;
        SchedulerConfigPath = schedulerConfig;
    }

    /// <summary>Recognises a diffusers folder.</summary>
    /// <exception cref="CheckpointException">The path is not a folder, or the folder is incomplete.</exception>
    public static CheckpointLayout Open(string folder) => Resolve(new CheckpointPaths { Folder = folder });

    /// <summary>Resolves a folder, single files, or a folder with some components replaced by single files.</summary>
    /// <exception cref="CheckpointException">A file is missing; the message lists every one and what was expected.</exception>
    public static CheckpointLayout Resolve(CheckpointPaths paths)
    {
        var problems = new List<string>();
        var singles = new Dictionary<ModelComponent, string?>
        {
            [ModelComponent.Transformer] = paths.DiffusionModel,
            [ModelComponent.TextEncoder] = paths.TextEncoder,
            [ModelComponent.Vae] = paths.Vae,
        };
        foreach (var (component, path) in singles)
            if (path is not null) CheckSingleFile(component, path, problems);

        if (paths.Folder is null)
        {
            var absent = singles.Where(s => s.Value is null).Select(s => OptionName(s.Key)).ToList();
            if (absent.Count > 0)
                problems.Add($"without a checkpoint folder every component needs a single file, but no {string.Join(", ", absent)} path was given " +
                    "(expected e.g. z_image_turbo_bf16.safetensors, qwen_3_4b.safetensors, ae.safetensors)");
            string? tokenizer = paths.Tokenizer is null ? null : CheckTokenizer(paths.Tokenizer, problems);
            ThrowIfAny(problems, "The single-file checkpoint is incomplete", paths.DiffusionModel ?? paths.TextEncoder ?? paths.Vae);
            return new CheckpointLayout(null,
                new ComponentCheckpoint(ModelComponent.Transformer, paths.DiffusionModel!, null),
                new ComponentCheckpoint(ModelComponent.TextEncoder, paths.TextEncoder!, null),
                new ComponentCheckpoint(ModelComponent.Vae, paths.Vae!, null),
                tokenizer, null);
        }

        string root = paths.Folder;
        if (File.Exists(root))
            throw new CheckpointException(
                $"'{root}' is a file, not a checkpoint folder: give a single-file component as DiffusionModel, TextEncoder or Vae instead.", root);
        if (!Directory.Exists(root))
            throw new CheckpointException($"The checkpoint folder '{root}' does not exist.", root);

        if (!File.Exists(Path.Combine(root, ModelIndexFile)))
            problems.Add($"'{ModelIndexFile}' is missing (every diffusers pipeline folder has one at its top)");
        var components = new Dictionary<ModelComponent, ComponentCheckpoint>();
        foreach (var (component, (folder, config, stem)) in DiffusersParts)
        {
            string configPath = Path.Combine(root, folder, config);
            if (singles[component] is { } single)
            {
                // The single file replaces the folder's weights; the folder's config still describes the architecture.
                components[component] = new ComponentCheckpoint(component, single, File.Exists(configPath) ? configPath : null);
                continue;
            }
            if (!File.Exists(configPath)) problems.Add($"'{folder}/{config}' is missing (the {Describe(component)} config)");
            string? weights = FindWeights(root, folder, stem, problems);
            if (weights is not null) components[component] = new ComponentCheckpoint(component, weights, configPath);
        }
        string? tokenizerPath = CheckTokenizer(paths.Tokenizer ?? Path.Combine(root, TokenizerFolder), problems, paths.Tokenizer is null);
        string schedulerPath = Path.Combine(root, SchedulerConfig);
        if (!File.Exists(schedulerPath)) problems.Add($"'{SchedulerConfig}' is missing (the FlowMatchEulerDiscreteScheduler config)");
        ThrowIfAny(problems, $"The checkpoint folder '{root}' is incomplete", root);

        return new CheckpointLayout(root, components[ModelComponent.Transformer], components[ModelComponent.TextEncoder],
            components[ModelComponent.Vae], tokenizerPath, schedulerPath);
    }

    private static string? FindWeights(string root, string folder, string stem, List<string> problems)
    {
        string dir = Path.Combine(root, folder);
        string expected = $"'{folder}/{stem}{WeightSource.FileSuffix}' or a sharded '{folder}/{stem}{WeightSource.IndexSuffix}'";
        if (!Directory.Exists(dir))
        {
            problems.Add($"the folder '{folder}/' is missing (expected its config.json and {expected})");
            return null;
        }
        string index = Path.Combine(dir, stem + WeightSource.IndexSuffix);
        if (File.Exists(index)) return index;
        string single = Path.Combine(dir, stem + WeightSource.FileSuffix);
        if (File.Exists(single)) return single;

        // Other names (e.g. a variant's 'model.fp16.safetensors') are taken only when there is exactly one candidate.
        var indexes = Directory.GetFiles(dir, "*" + WeightSource.IndexSuffix);
        var files = Directory.GetFiles(dir, "*" + WeightSource.FileSuffix);
        if (indexes.Length == 1) return indexes[0];
        if (indexes.Length == 0 && files.Length == 1) return files[0];
        if (indexes.Length + files.Length > 1)
            problems.Add($"'{folder}/' holds several weight files ({string.Join(", ", indexes.Concat(files).Select(Path.GetFileName))}) and none is {expected}");
        else if (Directory.GetFiles(dir, "*.bin").Length > 0)
            problems.Add($"'{folder}/' has only PyTorch .bin weights; this engine reads safetensors ({expected})");
        else
            problems.Add($"'{folder}/' has no weights (expected {expected})");
        return null;
    }

    private static void CheckSingleFile(ModelComponent component, string path, List<string> problems)
    {
        if (!File.Exists(path))
            problems.Add($"the {OptionName(component)} file '{path}' does not exist");
        else if (!path.EndsWith(WeightSource.FileSuffix, StringComparison.OrdinalIgnoreCase)
                 && !path.EndsWith(WeightSource.IndexSuffix, StringComparison.OrdinalIgnoreCase))
            problems.Add($"the {OptionName(component)} file '{path}' is not a .safetensors file");
    }

    private static string? CheckTokenizer(string path, List<string> problems, bool insideFolder = false)
    {
        string shown = insideFolder ? $"'{TokenizerFolder}/'" : $"the tokenizer folder '{path}'";
        if (!Directory.Exists(path))
        {
            problems.Add($"{shown} is missing (expected tokenizer.json, or vocab.json and merges.txt)");
            return null;
        }
        bool hasJson = File.Exists(Path.Combine(path, "tokenizer.json"));
        bool hasBpe = File.Exists(Path.Combine(path, "vocab.json")) && File.Exists(Path.Combine(path, "merges.txt"));
        if (!hasJson && !hasBpe)
            problems.Add($"{shown} has neither tokenizer.json nor vocab.json with merges.txt");
        return path;
    }

    private static void ThrowIfAny(List<string> problems, string lead, string? file)
    {
        if (problems.Count == 0) return;
        throw new CheckpointException($"{lead}: {string.Join("; ", problems)}.", file);
    }

    private static string OptionName(ModelComponent component) => component switch
    {
        ModelComponent.Transformer => "DiffusionModel",
        ModelComponent.TextEncoder => "TextEncoder",
        _ => "Vae",
    };

    private static string Describe(ModelComponent component) => component switch
    {
        ModelComponent.Transformer => "ZImageTransformer2DModel",
        ModelComponent.TextEncoder => "Qwen3 text encoder",
        _ => "AutoencoderKL",
    };
}
