// examples/common/cli.hpp - the command line of every example, on CLI11.
//
// CLI11 parses (a flag's value as the next argument, "--epochs 3", or after '=', "--epochs=3";
// the last of a repeated flag wins) and writes --help from the flags' descriptions. This layer
// adds what the examples share: value checks whose messages say what the flag expects and what
// it got, the flags every example has (--data-dir, --seed, --threads, --device, --quick), and
// one way to fail: a single line "<program>: <what is wrong>" on stderr and exit status 2.
//
//   nabla_examples::CommandLine cli("spam_classifier", "what the example does");
//   cli.integer<int>("--epochs", options.epochs, 1, 100'000, "training epochs at most");
//   cli.device(options.device);
//   if (const auto status = cli.parse(argc, argv)) return *status;  // --help: 0, a bad flag: 2
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "data.hpp"

namespace nabla_examples {

/// A malformed command line; CommandLine::parse prints it and returns exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The values a real-valued flag accepts: low .. high, each end included or not; an infinite
/// end is no bound.
struct Interval {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool include_low = false;
  bool include_high = false;

  bool contains(double value) const {
    return (include_low ? value >= low : value > low) && (include_high ? value <= high : value < high);
  }
  /// "in (0, 1)", "in [0, 1)", "> 0".
  std::string text() const {
    const auto number = [](double value) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%g", value);
      return std::string(buffer);
    };
    if (std::isinf(high)) return (include_low ? ">= " : "> ") + number(low);
    if (std::isinf(low)) return (include_high ? "<= " : "< ") + number(high);
    return std::string("in ") + (include_low ? "[" : "(") + number(low) + ", " + number(high) +
           (include_high ? "]" : ")");
  }
};

/// `text` as a whole number of type T in [low, high]; else UsageError naming `flag`.
template <typename T>
T parse_whole_number(const std::string& flag, const std::string& text, T low, T high) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value < low || value > high) {
    const std::string range = high == std::numeric_limits<T>::max()
                                  ? ">= " + std::to_string(low)
                                  : "in [" + std::to_string(low) + ", " + std::to_string(high) + "]";
    throw UsageError(flag + " expects a whole number " + range + ", got '" + text + "'");
  }
  return value;
}

/// `text` as a finite number in `interval`; else UsageError naming `flag`.
inline double parse_real(const std::string& flag, const std::string& text, const Interval& interval) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || !std::isfinite(value) || !interval.contains(value))
    throw UsageError(flag + " expects a number " + interval.text() + ", got '" + text + "'");
  return value;
}

class CommandLine {
 public:
  /// `description` opens --help; `footer` ends it (the exit statuses, say).
  CommandLine(std::string program, const std::string& description, const std::string& footer = {})
      : program_(std::move(program)), app_(description, program_) {
    // The examples' parsers always let a repeated flag override the earlier one, and a switch
    // (--quick) never took a value.
    app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->disable_flag_override();
    app_.set_help_flag("-h,--help", "this text");
    app_.get_formatter()->column_width(26);
    if (!footer.empty()) app_.footer(footer);
  }

  CLI::App& app() { return app_; }
  const std::string& program() const { return program_; }

  // ---- flags with a checked value ----------------------------------------------------------
  // `target` is the variable the value goes to (a T, or a std::optional<T> that stays empty
  // when the flag is not given). Each returns CLI11's option, e.g. for ->group("training").

  /// A whole number of type T in [low, high].
  template <typename T, typename Target>
  CLI::Option* integer(const std::string& flag, Target& target, T low, T high, const std::string& help) {
    return custom(flag, "N", help, [&target, flag, low, high](const std::string& text) {
      target = parse_whole_number<T>(flag, text, low, high);
    });
  }
  template <typename T, typename Target>
  CLI::Option* integer(const std::string& flag, Target& target, T low, const std::string& help) {
    return integer<T>(flag, target, low, std::numeric_limits<T>::max(), help);
  }

  /// A finite real number in `interval`.
  template <typename Target>
  CLI::Option* real(const std::string& flag, Target& target, Interval interval, const std::string& help) {
    return custom(flag, "X", help,
                  [&target, flag, interval](const std::string& text) { target = parse_real(flag, text, interval); });
  }

  /// One of the named values: `choices` pairs each name with the value it sets.
  template <typename T>
  CLI::Option* choice(const std::string& flag, T& target, std::vector<std::pair<std::string, T>> choices,
                      const std::string& help) {
    std::string names, type_name;
    for (std::size_t i = 0; i < choices.size(); ++i) {
      names += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i].first;
      type_name += (i == 0 ? "" : "|") + choices[i].first;
    }
    return custom(flag, type_name, help, [&target, flag, choices, names](const std::string& text) {
      for (const auto& [name, value] : choices)
        if (text == name) {
          target = value;
          return;
        }
      throw UsageError(flag + " expects " + names + ", got '" + text + "'");
    });
  }
  /// One of the named strings.
  CLI::Option* choice(const std::string& flag, std::string& target, const std::vector<std::string>& names,
                      const std::string& help) {
    std::vector<std::pair<std::string, std::string>> choices;
    for (const auto& name : names) choices.emplace_back(name, name);
    return choice<std::string>(flag, target, std::move(choices), help);
  }

  /// Any text (a file name, a prompt); `type_name` shows it in --help ("FILE"). An empty value
  /// is refused unless `allow_empty`.
  CLI::Option* text(const std::string& flag, std::string& target, const std::string& type_name, const std::string& help,
                    bool allow_empty = false) {
    return custom(flag, type_name, help, [&target, flag, allow_empty](const std::string& text) {
      if (text.empty() && !allow_empty) throw UsageError(flag + " expects a non-empty value, got ''");
      target = text;
    });
  }

  /// A flag with a value of another kind: `apply` checks the text (throwing UsageError) and
  /// stores it; `type_name` shows it in --help ("TRAIN,VALID").
  CLI::Option* custom(const std::string& flag, const std::string& type_name, const std::string& help,
                      std::function<void(const std::string&)> apply) {
    return app_.add_option_function<std::string>(flag, std::move(apply), help)->type_name(type_name);
  }

  /// A switch: given, it sets `target` to `value`. "--flag=value" is refused. Switches act in
  /// the order given, so of --tie-weights and --no-tie-weights the last one wins.
  CLI::Option* flag(const std::string& name, bool& target, const std::string& help, bool value = true) {
    return app_
        .add_flag_callback(
            name, [&target, value] { target = value; }, help)
        ->trigger_on_parse();
  }

  // ---- the flags the examples share --------------------------------------------------------

  /// --data-dir DIR; `target` starts as the data set's default directory.
  CLI::Option* data_dir(std::string& target, const DataSet& data_set, const std::string& what) {
    target = data_set.default_directory();
    return text("--data-dir", target, "DIR",
                what + "\n(default $NABLA_DATA_DIR/" + data_set.directory + " or data/" + data_set.directory +
                    "; fetch it with\n" + data_set.fetch_command() + ")");
  }

  /// --seed N; `what` says what it seeds.
  CLI::Option* seed(std::uint64_t& target, const std::string& what) {
    return integer<std::uint64_t>("--seed", target, 0, "seed of " + what + " (default " + std::to_string(target) + ")");
  }

  /// --threads N: 0 in `target` (the default) means every core.
  CLI::Option* threads(int& target) {
    return integer<int>("--threads", target, 1, 1024,
                        "CPU threads (default: every core; on a machine busy with other work, set\n"
                        "OMP_WAIT_POLICY=passive too: see docs/examples.md)");
  }

  /// --device cpu|cuda: where to train. cuda needs a build with CUDA (NABLA_CUDA) and a GPU;
  /// checked_device() (run.hpp) says which is missing.
  CLI::Option* device(std::string& target) {
    return choice("--device", target, {"cpu", "cuda"},
                  "where to train (default " + target + "; cuda: a CUDA build and a GPU)");
  }

  /// --quick: a short run, the CI smoke test.
  CLI::Option* quick(bool& target, const std::string& help) { return flag("--quick", target, help); }

  /// A check of the whole command line that parse() runs after the flags (one flag's value
  /// against another's); it throws UsageError.
  void check(std::function<void()> after_parse) { checks_.push_back(std::move(after_parse)); }

  // ---- parsing -----------------------------------------------------------------------------

  /// Parses argv. Returns nothing when the example should run, or the exit status when it
  /// should stop: 0 after --help (printed to stdout), 2 after a bad command line (one line on
  /// stderr).
  std::optional<int> parse(int argc, char** argv) {
    try {
      app_.parse(argc, argv);
      for (const auto& check : checks_) check();
      return std::nullopt;
    } catch (const CLI::CallForHelp&) {
      std::fputs(app_.help().c_str(), stdout);
      return 0;
    } catch (const CLI::ParseError& error) {
      return fail(describe(error));
    } catch (const UsageError& error) {
      return fail(error.what());
    }
  }

  /// --help's text.
  std::string help() const { return app_.help(); }

 private:
  int fail(const std::string& message) const {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), message.c_str());
    return 2;
  }

  /// CLI11's message, reworded where the examples have always said it their own way.
  std::string describe(const CLI::ParseError& error) {
    const std::string message = error.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&error)) {
      const std::vector<std::string> extras = app_.remaining();
      if (!extras.empty())
        return (extras.front().starts_with("-") ? "unknown option '" : "unexpected argument '") + extras.front() +
               "' (--help lists the options)";
    }
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&error)) {
      // "--maxlen: 1 required N missing": the flag ended the command line.
      if (const std::size_t colon = message.find(": "); colon != std::string::npos &&
                                                        message.find(" required ") != std::string::npos &&
                                                        message.ends_with(" missing"))
        return message.substr(0, colon) + " needs a value";
      // "quick was given a disallowed flag override": --quick=yes.
      if (const std::size_t end = message.find(" was given a disallowed flag override"); end != std::string::npos)
        return "--" + message.substr(0, end) + " takes no value";
    }
    return message;
  }

  std::string program_;
  CLI::App app_;
  std::vector<std::function<void()>> checks_;
};

}  // namespace nabla_examples
