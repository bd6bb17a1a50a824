// YAML text -> settings: walks the document against the key table, locating every problem as FILE:LINE.
#include <map>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "pgfunnel/config/parse.hpp"
#include "pgfunnel/config/sources.hpp"

namespace pgfunnel::config {

namespace {

struct yaml_walker {
  std::string_view file;
  const environment& env;
  settings& s;
  source_map& sources;
  std::vector<diagnostic>& errors;

  std::string at(const YAML::Node& n) const { return at(n.Mark()); }
  std::string at(const YAML::Mark& m) const {
    if (m.line < 0) return std::string(file);
    return fmt::format("{}:{}", file, m.line + 1);  // yaml-cpp counts from 0, editors from 1
  }

  void error(std::string where, std::string path, std::string message) {
    errors.push_back({std::move(where), std::move(path), std::move(message)});
  }

  static std::string_view kind(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    return "a value";
  }

  // A section is any proper prefix of a key path ("listen", "log", "direct").
  static bool is_section(std::string_view path) {
    for (const auto& k : keys())
      if (k.path.size() > path.size() && k.path.starts_with(path) && k.path[path.size()] == '.') return true;
    return false;
  }

  static std::vector<std::string> children(std::string_view section) {
    std::set<std::string> names;
    for (const auto& k : keys())
      if (k.path.size() > section.size() && k.path.starts_with(section) && k.path[section.size()] == '.') {
        const auto rest = k.path.substr(section.size() + 1);
        names.emplace(rest.substr(0, rest.find('.')));
      }
    return {names.begin(), names.end()};
  }

  static std::vector<std::string> all_paths() {
    std::set<std::string> paths;
    for (const auto& k : keys()) {
      paths.emplace(k.path);
      for (auto dot = k.path.find('.'); dot != std::string_view::npos; dot = k.path.find('.', dot + 1))
        paths.emplace(k.path.substr(0, dot));
    }
    return {paths.begin(), paths.end()};
  }

  std::optional<std::string> scalar_text(const YAML::Node& v, const std::string& where, const std::string& path) {
    if (v.IsNull()) return std::string();
    std::string e;
    auto text = expand_env(v.Scalar(), env, e);
    if (!text) error(where, path, e);
    return text;
  }

  void walk(const YAML::Node& map, const std::string& prefix) {
    std::map<std::string, int> seen;  // path -> line, to catch a key given twice
    for (const auto& item : map) {
      const YAML::Node& k = item.first;
      const YAML::Node& v = item.second;
      const std::string where = at(k);
      if (!k.IsScalar()) {
        error(where, prefix, "keys must be plain names");
        continue;
      }
      const std::string path = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
      if (auto [it, fresh] = seen.emplace(path, k.Mark().line + 1); !fresh) {
        error(where, path, fmt::format("given twice (first at line {})", it->second));
        continue;
      }
      if (const key_info* key = find_key(path)) {
        leaf(*key, v, where);
      } else if (is_section(path)) {
        if (v.IsMap()) walk(v, path);
        else if (!v.IsNull())
          error(where, path, fmt::format("expected a mapping with keys {}, got {}", fmt::join(children(path), ", "), kind(v)));
      } else {
        std::string message = "unknown key";
        if (auto m = did_you_mean(path, all_paths())) message += fmt::format("; did you mean '{}'?", *m);
        error(where, path, std::move(message));
      }
    }
  }

  void leaf(const key_info& key, const YAML::Node& v, const std::string& where) {
    const std::string path(key.path);
    if (key.shape == key_shape::user_list && v.IsSequence()) return user_list(v, where);
    if (v.IsMap() || v.IsSequence()) {
      const std::string_view expected = key.shape == key_shape::user_list ? "a list of users" : key.value_name;
      return error(where, path, fmt::format("expected {}, got {}", expected, kind(v)));
    }
    if (auto text = scalar_text(v, where, path)) apply_value(key, s, *text, where, sources, errors);
  }

  void user_list(const YAML::Node& list, const std::string& where) {
    static const std::vector<std::string> fields{"name", "password", "scram_verifier"};
    std::vector<user_entry> users;
    std::map<std::string, int> names;  // name -> line of first entry
    bool ok = true;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& entry = list[i];
      const std::string path = fmt::format("users[{}]", i);
      const std::string entry_at = at(entry);
      if (!entry.IsMap()) {
        error(entry_at, path, fmt::format("expected a mapping {{name, password}} or {{name, scram_verifier}}, got {}",
                                          kind(entry)));
        ok = false;
        continue;
      }
      user_entry u;
      for (const auto& field : entry) {
        const std::string name = field.first.IsScalar() ? field.first.Scalar() : std::string();
        const std::string field_path = path + "." + name;
        const std::string field_at = at(field.first);
        std::string* target = name == "name" ? &u.name
                              : name == "password" ? &u.password
                              : name == "scram_verifier" ? &u.scram_verifier
                                                         : nullptr;
        if (target == nullptr) {
          std::string message = "unknown key";
          if (auto m = did_you_mean(name, fields)) message += fmt::format("; did you mean '{}'?", *m);
          error(field_at, field_path, std::move(message));
          ok = false;
        } else if (!field.second.IsScalar() && !field.second.IsNull()) {
          error(field_at, field_path, fmt::format("expected a string, got {}", kind(field.second)));
          ok = false;
        } else if (auto text = scalar_text(field.second, field_at, field_path)) {
          *target = std::move(*text);
        } else {
          ok = false;
        }
      }
      for (auto& e : check_user_entry(u)) {
        error(entry_at, path, std::move(e));
        ok = false;
      }
      if (!u.name.empty()) {
        const int line = entry.Mark().line + 1;
        if (auto [it, fresh] = names.emplace(u.name, line); !fresh) {
          error(entry_at, path, fmt::format("user '{}' is listed twice (first at line {})", u.name, it->second));
          ok = false;
        }
      }
      users.push_back(std::move(u));
    }
    s.users = std::move(users);
    if (ok) sources["users"] = where;
  }
};

}  // namespace

void apply_yaml(std::string_view yaml, std::string_view file_name, const environment& env, settings& s,
                source_map& sources, std::vector<diagnostic>& errors) {
  yaml_walker w{file_name, env, s, sources, errors};
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp stops at the first syntax error, so this is the only error the file can give.
    return w.error(w.at(e.mark), "", fmt::format("YAML syntax error: {}", e.msg));
  }
  if (docs.size() > 1) return w.error(w.at(docs[1]), "", "more than one YAML document ('---'); expected one");
  if (docs.empty() || docs.front().IsNull()) return;  // an empty file means all defaults
  const YAML::Node& root = docs.front();
  if (!root.IsMap()) return w.error(w.at(root), "", "expected a mapping of settings (key: value) at the top level");
  w.walk(root, "");
}

}  // namespace pgfunnel::config
