using ZImageSharp.Contracts;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Weights;

/// <summary>Which preset a model gets: --preset, then the folder's zimage-preset.json, then what the folder's path or
/// transformer/config.json say it is (docs/presets.md), else turbo.</summary>
public sealed class ModelPresetsTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("zimage-presets-");

    public void Dispose() => _root.Delete(recursive: true);

    private static string PresetData(string file) => Path.Combine(AppContext.BaseDirectory, "data", "presets", file);

    private string Folder(params string[] parts)
    {
        var folder = Path.Combine([_root.FullName, .. parts]);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "model_index.json"), """{ "_class_name": "ZImagePipeline" }""");
        return folder;
    }

    private static void TransformerConfig(string folder, string json)
    {
        Directory.CreateDirectory(Path.Combine(folder, "transformer"));
        File.WriteAllText(Path.Combine(folder, "transformer", "config.json"), json);
    }

    [Theory]
    [InlineData("turbo", GenerationPreset.TurboName)]
    [InlineData("base", GenerationPreset.BaseName)]
    [InlineData("Base", GenerationPreset.BaseName)]
    public void A_built_in_name_is_that_preset(string option, string name)
    {
        var preset = ModelPresets.Resolve(option, modelFolder: null);
        Assert.Equal(name, preset.Name);
        Assert.Equal("--preset " + name, preset.Source);
    }

    [Fact]
    public void A_file_option_is_read_and_a_missing_one_says_what_is_allowed()
    {
        Assert.Equal("realism", ModelPresets.Resolve(PresetData("realism.json"), null).Name);
        var error = Assert.Throws<PresetFileException>(() => ModelPresets.Resolve("basee", null));
        Assert.Equal("The preset basee cannot be used: --preset must be turbo or base, or a preset JSON file, and no file 'basee' exists.", error.Message);
        var bad = Assert.Throws<PresetFileException>(() => ModelPresets.Resolve(PresetData("bad-steps-range.json"), null));
        Assert.Equal("steps", bad.Field);
    }

    [Fact]
    public void Nothing_said_is_turbo()
    {
        var folder = Folder("Z-Image");
        TransformerConfig(folder, """{ "_class_name": "ZImageTransformer2DModel", "dim": 3840 }""");
        var preset = ModelPresets.Resolve(null, folder);
        Assert.True(preset.IsTurbo);
        Assert.StartsWith("default: no --preset, no zimage-preset.json in the model folder", preset.Source);
        Assert.True(ModelPresets.Resolve("", null).IsTurbo);
    }

    [Fact]
    public void The_folders_preset_file_is_taken_and_the_option_wins_over_it()
    {
        var folder = Folder("models--Tongyi-MAI--Z-Image-Turbo", "snapshots", "abc123");
        File.Copy(PresetData("realism.json"), Path.Combine(folder, ModelPresets.FileName));
        var preset = ModelPresets.Resolve(null, folder);
        Assert.Equal("realism", preset.Name);
        Assert.Contains("the model folder's zimage-preset.json", preset.Source);
        Assert.True(ModelPresets.Resolve("turbo", folder).IsTurbo);
    }

    [Fact]
    public void A_bad_preset_file_in_the_folder_is_an_error_naming_its_field()
    {
        var folder = Folder("mine");
        File.Copy(PresetData("bad-unknown-field.json"), Path.Combine(folder, ModelPresets.FileName));
        var error = Assert.Throws<PresetFileException>(() => ModelPresets.Resolve(null, folder));
        Assert.Equal("guidance", error.Field);
        Assert.Equal(Path.Combine(folder, ModelPresets.FileName), error.File);
    }

    [Theory]
    [InlineData("models--Tongyi-MAI--Z-Image", GenerationPreset.BaseName)]
    [InlineData("models--tongyi-mai--z-image", GenerationPreset.BaseName)]
    [InlineData("models--Tongyi-MAI--Z-Image-Turbo", GenerationPreset.TurboName)]
    public void The_hugging_face_cache_folder_names_the_repository(string cacheFolder, string name)
    {
        var folder = Folder("hub", cacheFolder, "snapshots", "0123abcd");
        var preset = ModelPresets.Resolve(null, folder);
        Assert.Equal(name, preset.Name);
        Assert.StartsWith("detected: the model folder is the Hugging Face cache of Tongyi-MAI/Z-Image", preset.Source);
    }

    [Theory]
    [InlineData("Tongyi-MAI/Z-Image", GenerationPreset.BaseName)]
    [InlineData("/root/.cache/huggingface/hub/models--Tongyi-MAI--Z-Image/snapshots/04cc4ab/transformer", GenerationPreset.BaseName)]
    [InlineData("C:\\\\Users\\\\me\\\\.cache\\\\huggingface\\\\hub\\\\models--Tongyi-MAI--Z-Image\\\\snapshots\\\\04cc4ab", GenerationPreset.BaseName)]
    [InlineData("Tongyi-MAI/Z-Image-Turbo", GenerationPreset.TurboName)]
    public void A_saved_transformers_name_or_path_names_the_repository(string nameOrPath, string name)
    {
        var folder = Folder("converted");
        TransformerConfig(folder, $$"""{ "_class_name": "ZImageTransformer2DModel", "_name_or_path": "{{nameOrPath}}" }""");
        var preset = ModelPresets.Resolve(null, folder);
        Assert.Equal(name, preset.Name);
        Assert.StartsWith("detected: transformer/config.json's _name_or_path names Tongyi-MAI/Z-Image", preset.Source);
    }

    /// <summary>Only a repository id or its cache folder counts: a local folder that happens to be called Z-Image, or
    /// a fine-tune's own repository, says nothing about which defaults its weights need.</summary>
    [Theory]
    [InlineData("/data/models/Z-Image")]
    [InlineData("someone/Z-Image-finetune")]
    [InlineData("Tongyi-MAI/Z-Image-Edit")]
    public void Other_names_or_paths_detect_nothing(string nameOrPath)
    {
        var folder = Folder("Z-Image");
        TransformerConfig(folder, $$"""{ "_name_or_path": "{{nameOrPath}}" }""");
        Assert.Null(ModelPresets.Detect(folder));
    }

    [Fact]
    public void A_broken_transformer_config_detects_nothing_here()
    {
        var folder = Folder("broken");
        TransformerConfig(folder, "{ not json");
        Assert.Null(ModelPresets.Detect(folder));
    }
}
