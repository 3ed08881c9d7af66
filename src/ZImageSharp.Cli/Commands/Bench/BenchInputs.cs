using ZImageSharp.Engine;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>The prompts every bench mode uses and the list options they parse.</summary>
internal static class BenchInputs
{
    public const string ShortPrompt = "A neon-lit street in Tokyo at night, rain reflections, 4k photo";

    /// <summary>A caption that tokenizes to the 512-token maximum with the chat template.</summary>
    public static string LongPrompt(ZImageEngine engine)
    {
        var words = new System.Text.StringBuilder();
        while (engine.Models.Tokenizer.EncodePromptIds(words.ToString(), int.MaxValue).Length < 520)
            words.Append("a quiet harbour at dawn with fishing boats, gulls and mist over the water; ");
        return words.ToString();
    }

    public static List<int> ParseList(string text, string option)
    {
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out var v) || v <= 0) throw new ArgumentException($"{option}: '{part}' is not a positive number.");
            values.Add(v);
        }
        if (values.Count == 0) throw new ArgumentException($"{option} needs at least one value.");
        return values;
    }

    /// <summary>Writes JSON through a temporary file and a rename: a reader never sees half a result.</summary>
    public static void WriteJson(string path, object value)
    {
        var temp = path + ".partial";
        File.WriteAllText(temp, System.Text.Json.JsonSerializer.Serialize(value,
            new System.Text.Json.JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower }));
        File.Move(temp, path, overwrite: true);
    }
}
