using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Spectre.Console.Cli;
using ZImageSharp.Contracts;

namespace ZImageSharp.Cli;

/// <summary>A command as the CLI registers it; <paramref name="PassesConfigurationKeys"/> lets unknown options of the
/// form <c>--Section:Key=value</c> through to ASP.NET Core's configuration (serve).</summary>
internal sealed record CliCommand(string Name, Type Settings, bool PassesConfigurationKeys = false);

/// <summary>Marks a CLI option that sets a field of <see cref="GenerationRequest"/>, so a value that does not even
/// parse is answered with what the validator would accept for that field.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class RequestFieldAttribute(string field) : Attribute
{
    public string Field { get; } = field;
}

/// <summary>
/// Checks option names and values before Spectre.Console.Cli binds them. Spectre's relaxed parsing (which serve needs
/// for its pass-through configuration keys) files an unknown option such as <c>--widht 64</c> under "remaining" and
/// runs with the default, and a value that does not convert is reported as "Failed to convert 'abc' to Nullable`1",
/// naming neither the option nor what it accepts. This reads the tokens the way Spectre's tokenizer does (long
/// options up to '=' or ':', short options as letters, "-5" as a value, everything after "--" left alone) and leaves
/// anything it does not recognise to Spectre, whose own errors then apply.
/// </summary>
internal static class CommandLineCheck
{
    private const string HelpLong = "help";
    private static readonly string[] HelpShort = ["h", "?"];

    internal sealed record Option(string[] Long, string[] Short, string? ValueName, bool TakesValue, bool Hidden, PropertyInfo Property)
    {
        public string Shown => Long.Length > 0 ? "--" + Long[0] : "-" + Short[0];
    }

    /// <summary>The first problem with <paramref name="args"/>, as a sentence for the user; null when there is none
    /// this check can see.</summary>
    public static string? Problem(IReadOnlyList<string> args, IReadOnlyList<CliCommand> commands)
    {
        if (args.Count == 0 || commands.FirstOrDefault(c => c.Name == args[0]) is not { } command) return null;
        var options = OptionsOf(command.Settings);
        for (int i = 1; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--") return null;
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                int separator = arg.IndexOfAny(['=', ':'], 2);
                string name = separator < 0 ? arg[2..] : arg[2..separator];
                if (name == HelpLong) continue;
                var option = options.FirstOrDefault(o => o.Long.Contains(name, StringComparer.Ordinal));
                if (option is null)
                {
                    if (command.PassesConfigurationKeys && separator >= 0 && arg[separator] == ':') continue;
                    return Unknown("--" + name, command, options);
                }
                if (!option.TakesValue) continue;
                string? value = separator >= 0 ? arg[(separator + 1)..] : NextValue(args, ref i);
                if (CheckValue(option, "--" + name, value) is { } problem) return problem;
            }
            else if (arg.Length >= 2 && arg[0] == '-' && (char.IsLetter(arg[1]) || arg[1] == '?'))
            {
                int end = 1;
                while (end < arg.Length && (char.IsLetter(arg[end]) || arg[end] == '?')) end++;
                // "-W64" and other shapes Spectre rejects with its own message.
                if (end < arg.Length && arg[end] is not ('=' or ':')) return null;
                var names = arg[1..end].Select(c => c.ToString()).ToList();
                foreach (var name in names)
                    if (!HelpShort.Contains(name) && !options.Any(o => o.Short.Contains(name, StringComparer.Ordinal)))
                        return Unknown("-" + name, command, options);
                if (names.Count != 1 || HelpShort.Contains(names[0])) continue;
                var option = options.First(o => o.Short.Contains(names[0], StringComparer.Ordinal));
                if (!option.TakesValue) continue;
                string? value = end < arg.Length ? arg[(end + 1)..] : NextValue(args, ref i);
                if (CheckValue(option, "-" + names[0], value) is { } problem) return problem;
            }
        }
        return null;
    }

    /// <summary>The argument after an option that takes a value, unless Spectre would read it as another option.</summary>
    private static string? NextValue(IReadOnlyList<string> args, ref int i)
    {
        if (i + 1 >= args.Count) return null;
        string next = args[i + 1];
        if (next.Length >= 2 && next[0] == '-' && !char.IsDigit(next[1])) return null;
        i++;
        return next;
    }

    private static string? CheckValue(Option option, string written, string? value)
    {
        var type = Nullable.GetUnderlyingType(option.Property.PropertyType) ?? option.Property.PropertyType;
        if (type.IsArray) type = type.GetElementType()!; // a repeatable option (--lora): each value is one element
        string kind = type == typeof(int) || type == typeof(long) ? "an integer"
            : type == typeof(float) || type == typeof(double) ? "a number"
            : $"a value ({option.ValueName})";
        if (value is null)
            return $"{written} needs {kind} after it{Rule(option)}";
        if (type == typeof(string)) return null;
        try
        {
            if (TypeDescriptor.GetConverter(type).ConvertFrom(null, CultureInfo.InvariantCulture, value) is not null) return null;
        }
        catch (Exception)
        {
            // Whatever the converter throws (FormatException, OverflowException, or either wrapped in an
            // ArgumentException), the answer is the same: the value is not of the option's type.
        }
        return $"{written}: '{value}' is not {kind}{Rule(option)}";
    }

    /// <summary>What the option accepts: the validator's words for a request field, else the option's own help.</summary>
    private static string Rule(Option option)
    {
        if (option.Property.GetCustomAttribute<RequestFieldAttribute>() is { } field)
            return $"; it must be {GenerationRequestValidator.Allowed(field.Field, RequestLimits.Default)}.";
        return option.Property.GetCustomAttribute<DescriptionAttribute>()?.Description is { } help
            ? $". {option.Shown} <{option.ValueName}>: {help}"
            : ".";
    }

    private static string Unknown(string written, CliCommand command, IReadOnlyList<Option> options)
    {
        string lead = $"Unknown option {written} for 'zimage {command.Name}'";
        return Closest(written, options) is { } suggestion
            ? $"{lead}; did you mean {suggestion}?"
            : $"{lead}; 'zimage {command.Name} --help' lists its options.";
    }

    /// <summary>The visible option nearest to a mistyped one: same name in another case, a unique prefix, or an edit
    /// distance (adjacent transpositions count once, so "widht" is one edit from "width") of at most a third of it.</summary>
    internal static string? Closest(string written, IReadOnlyList<Option> options)
    {
        bool isLong = written.StartsWith("--", StringComparison.Ordinal);
        string name = written.TrimStart('-');
        var candidates = options.Where(o => !o.Hidden)
            .SelectMany(o => (isLong ? o.Long : o.Short).Select(n => (Shown: (isLong ? "--" : "-") + n, Name: n)))
            .ToList();
        if (candidates.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase)) is { Shown: not null } sameName)
            return sameName.Shown;
        if (!isLong) return null;
        var prefixed = candidates.Where(c => c.Name.StartsWith(name, StringComparison.Ordinal)).ToList();
        if (name.Length >= 3 && prefixed.Count == 1) return prefixed[0].Shown;
        var best = candidates.Select(c => (c.Shown, Distance: EditDistance(name, c.Name))).OrderBy(c => c.Distance).FirstOrDefault();
        return best.Shown is not null && best.Distance <= Math.Max(1, name.Length / 3) ? best.Shown : null;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }

    internal static IReadOnlyList<Option> OptionsOf(Type settings) =>
        settings.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (Property: p, Attribute: p.GetCustomAttribute<CommandOptionAttribute>()))
            .Where(p => p.Attribute is not null)
            .Select(p => new Option([.. p.Attribute!.LongNames], [.. p.Attribute.ShortNames],
                p.Attribute.ValueName, TakesValue: p.Attribute.ValueName is not null && !p.Attribute.ValueIsOptional, p.Attribute.IsHidden, p.Property))
            .ToList();
}
