#include "plugins/plugin_loader.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/dll/import.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "eventlog/event_codec.h"
#include "http/list_query.h"
#include "log.h"
#include "sha256.h"

namespace clusterlite {
namespace fs = std::filesystem;

namespace {

// Larger files are refused before they are read into memory.
constexpr size_t kMaxPluginBytes = 512u << 20;

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw PluginError("plugin " + path + ": " + reason);
}

std::string first_line(std::string text) {
  auto nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  return text;
}

// The dlerror text inside Boost.DLL's load error, which wraps it as
// "...load() failed (dlerror system message: <text>): <errno text>".
std::string dlerror_text(const std::string& what) {
  static const std::string kPrefix = "(dlerror system message: ";
  auto begin = what.find(kPrefix);
  auto end = what.rfind("):");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return first_line(what);
  return first_line(what.substr(begin + kPrefix.size(), end - begin - kPrefix.size()));
}

std::string machine_name(unsigned machine) {
  switch (machine) {
    case EM_386: return "i386";
    case EM_X86_64: return "x86-64";
    case EM_ARM: return "arm";
    case EM_AARCH64: return "aarch64";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390x";
    case EM_RISCV: return "riscv";
    case EM_MIPS: return "mips";
    case EM_LOONGARCH: return "loongarch";
    default: return "ELF machine " + std::to_string(machine);
  }
}

// What an ELF header says: its class (32 or 64 bit), byte order, type and machine.
struct ElfIdentity {
  unsigned char elf_class = 0;
  unsigned char data = 0;
  unsigned type = 0;
  unsigned machine = 0;
  std::string describe() const {
    return machine_name(machine) + (elf_class == ELFCLASS32 ? " (32-bit)" : elf_class == ELFCLASS64 ? "" : " (?)");
  }
};

// The identity of an ELF header in `bytes`, or nullopt when they do not begin with one.
std::optional<ElfIdentity> elf_identity(std::string_view bytes) {
  if (bytes.size() < sizeof(Elf32_Ehdr) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) return std::nullopt;
  ElfIdentity id;
  id.elf_class = static_cast<unsigned char>(bytes[EI_CLASS]);
  id.data = static_cast<unsigned char>(bytes[EI_DATA]);
  // e_type and e_machine sit at the same place in both classes; read them in
  // the file's byte order.
  auto half = [&](size_t at) {
    auto b0 = static_cast<unsigned char>(bytes[at]), b1 = static_cast<unsigned char>(bytes[at + 1]);
    return id.data == ELFDATA2MSB ? (b0 << 8 | b1) : (b1 << 8 | b0);
  };
  id.type = static_cast<unsigned>(half(offsetof(Elf32_Ehdr, e_type)));
  id.machine = static_cast<unsigned>(half(offsetof(Elf32_Ehdr, e_machine)));
  return id;
}

// This process's own ELF identity, read once from its executable.
const ElfIdentity& host_identity() {
  static const ElfIdentity host = [] {
    std::ifstream in("/proc/self/exe", std::ios::binary);
    std::string head(sizeof(Elf64_Ehdr), '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    auto id = elf_identity(head);
    return id ? *id : ElfIdentity{};
  }();
  return host;
}

// Whether a plugin of ABI 1 (no metadata) uses the pre-GCC 5 std::string: its
// dynamic symbols then name the old string's members (_ZNSs..., _ZNKSs...).
bool uses_old_string_abi(std::string_view bytes) {
  static const std::string kOld[] = {std::string("\0_ZNSs", 6), std::string("\0_ZNKSs", 7)};
  return std::any_of(std::begin(kOld), std::end(kOld),
                     [&](const std::string& s) { return bytes.find(s) != std::string_view::npos; });
}

std::string string_abi_name(int flag) {
  return flag == 1 ? "the C++11 std::string ABI (_GLIBCXX_USE_CXX11_ABI=1)"
                   : flag == 0 ? "the old std::string ABI (_GLIBCXX_USE_CXX11_ABI=0)" : "no libstdc++ string ABI";
}

// A loaded library held in an anonymous in-memory file. The library is
// opened by that file's /proc path, which stays unique while the descriptor
// is open; the descriptor is closed once the library is unmapped (a library
// with unique symbols may never be, and then keeps its descriptor).
class MemoryLibrary {
 public:
  MemoryLibrary(const std::string& path, const std::string& name, std::string_view bytes) {
    fd_ = memfd_create(("clusterlite-plugin-" + name).c_str(), MFD_CLOEXEC);
    if (fd_ < 0) fail(path, std::string("cannot make an in-memory copy: ") + std::strerror(errno));
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int error = errno;
        ::close(fd_);
        fail(path, std::string("cannot make an in-memory copy: ") + std::strerror(error));
      }
      done += static_cast<size_t>(n);
    }
    proc_path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemoryLibrary(const MemoryLibrary&) = delete;
  MemoryLibrary& operator=(const MemoryLibrary&) = delete;
  ~MemoryLibrary() {
    if (!lib_.is_loaded()) {
      ::close(fd_);
      return;
    }
    lib_.unload();
    if (void* still = dlopen(proc_path_.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
      dlclose(still);  // still mapped: its name must stay unique
      return;
    }
    ::close(fd_);
  }
  boost::dll::shared_library& lib() { return lib_; }
  const std::string& proc_path() const { return proc_path_; }

 private:
  int fd_ = -1;
  std::string proc_path_;
  boost::dll::shared_library lib_;
};

}  // namespace

std::string read_plugin_file(const std::string& path) {
  struct stat link_st {};
  if (::lstat(path.c_str(), &link_st) != 0) fail(path, errno == ENOENT ? "file not found" : std::strerror(errno));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (S_ISLNK(link_st.st_mode)) {
      std::error_code ec;
      auto target = fs::read_symlink(path, ec);
      fail(path, "symbolic link to " + (ec ? std::string("a target") : target.string()) + ", which does not exist");
    }
    fail(path, std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, not a shared object");
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  if (static_cast<size_t>(st.st_size) > kMaxPluginBytes)
    fail(path, "is " + std::to_string(st.st_size) + " bytes, more than a plugin may be");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      fail(path, std::string("cannot read: ") + std::strerror(error));
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > kMaxPluginBytes) {
      ::close(fd);
      fail(path, "grew past " + std::to_string(kMaxPluginBytes) + " bytes while it was read");
    }
  }
  ::close(fd);
  auto id = elf_identity(bytes);
  if (!id) fail(path, "not an ELF shared object");
  const ElfIdentity& host = host_identity();
  if (id->elf_class != host.elf_class || id->machine != host.machine || id->data != host.data)
    fail(path, "built for " + id->describe() + "; this node runs on " + host.describe());
  if (id->type != ET_DYN) fail(path, "an ELF file but not a shared object (build it as a MODULE or SHARED library)");
  return bytes;
}

// What is wrong with a table's query fields ("" when nothing): each name
// must be one a query parameter can carry, not a parameter the host reads.
static std::string query_fields_problem(const QueryFields& fields) {
  for (auto* list : {&fields.filters, &fields.search, &fields.sorts})
    for (auto& name : *list) {
      if (name.empty() || name.size() > 63 || !std::all_of(name.begin(), name.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '_';
          }))
        return "names \"" + name.substr(0, 64) + "\", not a field name (letters, digits and _, up to 63)";
      if (is_reserved_list_parameter(name))
        return "names \"" + name + "\", a query parameter of the host";
    }
  return "";
}

std::vector<LoadedPlugin> load_plugin_file(const std::string& path, const rapidjson::Value& settings,
                                           const std::string& node_id) {
  std::string bytes = read_plugin_file(path);
  std::string name = fs::path(path).stem().string();
  auto memory = std::make_shared<MemoryLibrary>(path, name, bytes);
  auto& lib = memory->lib();
  try {
    lib.load(boost::dll::fs::path(memory->proc_path()),
             boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    std::string why = dlerror_text(e.what());
    // dlerror names the /proc path the bytes were loaded from: name the file.
    for (auto at = why.find(memory->proc_path()); at != std::string::npos; at = why.find(memory->proc_path()))
      why.replace(at, memory->proc_path().size(), fs::path(path).filename().string());
    fail(path, "cannot load shared object: " + why);
  }
  if (!lib.has("clusterlite_plugin_abi_version"))
    fail(path, "missing symbol clusterlite_plugin_abi_version (not built with CLUSTERLITE_PLUGIN?)");
  LoadedPlugin out;
  out.abi = lib.get<int()>("clusterlite_plugin_abi_version")();
  if (out.abi == 2 || out.abi == 3) {
    // ABI 3 appended query_fields() and query() to TableOperations; an ABI 2
    // plugin's objects lack them and are never asked (LoadedPlugin::abi).
    if (!lib.has("clusterlite_plugin_metadata"))
      fail(path, "ABI " + std::to_string(out.abi) + " plugin without clusterlite_plugin_metadata");
    const clusterlite_plugin_info* info = lib.get<const clusterlite_plugin_info*()>("clusterlite_plugin_metadata")();
    if (!info || info->abi_version != out.abi) fail(path, "its metadata does not match its ABI version");
    if (info->cxx11_string_abi != CLUSTERLITE_CXX11_STRING_ABI)
      fail(path, "built with " + string_abi_name(info->cxx11_string_abi) + "; this node uses " +
                     string_abi_name(CLUSTERLITE_CXX11_STRING_ABI) + " (rebuild it without -D_GLIBCXX_USE_CXX11_ABI)");
    if (info->plugin_version < 1 || info->plugin_version > kMaxPluginVersion)
      fail(path, "plugin version " + std::to_string(info->plugin_version) + " is out of range (1 to " +
                     std::to_string(kMaxPluginVersion) + ")");
    out.version = info->plugin_version;
  } else if (out.abi == 1) {
    // Built before plugins had versions: version 0. It exports no metadata,
    // so its std::string ABI is read from the symbols it uses.
    if (uses_old_string_abi(bytes))
      fail(path, "built with " + string_abi_name(0) + "; this node uses " +
                     string_abi_name(CLUSTERLITE_CXX11_STRING_ABI) + " (rebuild it without -D_GLIBCXX_USE_CXX11_ABI)");
  } else {
    fail(path, "ABI version mismatch: plugin has " + std::to_string(out.abi) + ", host expects " +
                   std::to_string(CLUSTERLITE_PLUGIN_ABI_VERSION) + " (rebuild the plugin against this ClusterLite)");
  }
  PluginContext ctx{settings, node_id, [name](LogLevel level, const std::string& message) {
                      log::write(level, "plugin " + name, message);
                    }};
  std::vector<std::unique_ptr<TableOperations>> made;
  try {
    if (out.abi >= 2 && lib.has("clusterlite_plugin_tables")) {
      // An empty list is a plugin with nothing to serve under this config
      // (the schema plugin when no table is declared): it loads and serves
      // no table.
      made = lib.get_alias<PluginTablesFactory>("clusterlite_plugin_tables")(ctx);
    } else {
      if (!lib.has("clusterlite_plugin_factory")) fail(path, "missing symbol clusterlite_plugin_factory");
      made.push_back(lib.get_alias<PluginFactory>("clusterlite_plugin_factory")(ctx));
    }
  } catch (const PluginError&) {
    throw;
  } catch (const std::exception& e) {
    fail(path, std::string("factory threw: ") + first_line(e.what()));
  } catch (...) {
    fail(path, "factory threw a non-standard exception");
  }

  std::vector<LoadedPlugin> tables;
  std::string sha256 = sha256_hex(bytes);
  for (auto& object : made) {
    if (!object) fail(path, "factory returned no object");
    LoadedPlugin p = out;
    try {
      p.table_name = object->table_name();
      if (p.abi >= 2) {
        if (auto v = object->table_version()) p.version = *v;
        p.schema = object->entity_schema();
      }
      if (p.abi >= 3) p.fields = object->query_fields();
    } catch (const std::exception& e) {
      fail(path, std::string("table_name(), table_version(), entity_schema() or query_fields() threw: ") +
                     first_line(e.what()));
    }
    if (!is_valid_table_name(p.table_name))
      fail(path, "invalid table name \"" + p.table_name.substr(0, 80) + "\" (must match ^[a-z][a-z0-9_]{0,62}$)");
    for (auto& other : tables)
      if (other.table_name == p.table_name) fail(path, "serves table \"" + p.table_name + "\" twice");
    if (p.abi >= 2 && (p.version < 1 || p.version > kMaxPluginVersion))
      fail(path, "table " + p.table_name + ": version " + std::to_string(p.version) + " is out of range (1 to " +
                     std::to_string(kMaxPluginVersion) + ")");
    if (std::string why = query_fields_problem(p.fields); !why.empty())
      fail(path, "table " + p.table_name + ": query_fields() " + why);
    if (!p.schema.empty()) {
      rapidjson::Document doc;
      if (doc.Parse(p.schema.data(), p.schema.size()).HasParseError() || !doc.IsObject())
        fail(path, "table " + p.table_name + ": entity_schema() is not a JSON object");
      p.schema_sha256 = sha256_hex(p.schema).substr(0, 16);
    }
    p.name = name;
    p.path = path;
    p.sha256 = sha256;
    // The deleter owns the library, so the code of the object's destructor
    // stays mapped until the object is gone.
    p.table = std::shared_ptr<TableOperations>(object.release(), [memory](TableOperations* t) mutable {
      delete t;
      memory.reset();
    });
    tables.push_back(std::move(p));
  }
  return tables;
}

LoadedPlugin load_plugin(const std::string& path, const rapidjson::Value& settings, const std::string& node_id) {
  auto tables = load_plugin_file(path, settings, node_id);
  if (tables.size() != 1)
    fail(path, "serves " + std::to_string(tables.size()) + " tables where one was expected");
  return std::move(tables.front());
}

std::vector<std::string> plugin_names(const Config::Plugins& config) {
  if (config.load) return *config.load;
  std::vector<std::string> names;
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(config.directory, ec)) {
    // Anything named *.so is a plugin to load: a directory or a dangling
    // link with that name is refused with a reason, not passed over.
    if (entry.path().extension() == ".so") names.push_back(entry.path().stem().string());
  }
  if (ec) throw PluginError("plugins directory " + config.directory + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<LoadedPlugin> load_plugins(const Config::Plugins& config, const std::string& node_id,
                                       const std::vector<LoadedPlugin>& keep) {
  std::vector<std::string> names = plugin_names(config);
  // A configured plugin that will not be loaded is most likely a typo.
  for (auto& [name, pc] : config.configure) {
    if (std::find(names.begin(), names.end(), name) == names.end() && pc.enabled && !pc.optional)
      throw PluginError(
          "plugin " + (fs::path(config.directory) / (name + ".so")).string() +
          (config.load ? ": configured but not listed in plugins.load" : ": configured but file not found"));
  }

  static const rapidjson::Value kEmpty(rapidjson::kObjectType);
  std::vector<LoadedPlugin> loaded;
  std::map<std::string, std::string> table_owner;
  for (auto& name : names) {
    auto it = config.configure.find(name);
    bool enabled = it == config.configure.end() || it->second.enabled;
    bool optional = it != config.configure.end() && it->second.optional;
    std::string path = (fs::path(config.directory) / (name + ".so")).string();
    if (!enabled) {
      log::info("plugins", "plugin " + path + " disabled by config");
      continue;
    }
    // `optional` covers a missing file only: a plugin that is there and fails
    // is an error like any other.
    struct stat st {};
    if (optional && ::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
      log::info("plugins", "plugin " + path + " not found (optional, skipped)");
      continue;
    }
    const rapidjson::Value& settings = it != config.configure.end() && it->second.settings
                                           ? static_cast<const rapidjson::Value&>(*it->second.settings)
                                           : kEmpty;
    std::vector<LoadedPlugin> tables;
    for (auto& k : keep)
      if (k.path == path) tables.push_back(k);
    if (tables.empty() || sha256_hex(read_plugin_file(path)) != tables.front().sha256) {
      tables = load_plugin_file(path, settings, node_id);
      if (tables.empty()) log::info("plugins", "loaded " + path + ": it serves no table with these settings");
      for (auto& p : tables)
        log::info("plugins", "loaded " + path + " serving table " + p.table_name + " (version " +
                                 std::to_string(p.version) + ", sha256 " + p.sha256.substr(0, 12) + ")");
    }
    bool history = it != config.configure.end() && it->second.history ? *it->second.history : name == "users";
    for (auto& p : tables) {
      p.history = history;
      if (auto dup = table_owner.find(p.table_name); dup != table_owner.end())
        fail(path, "duplicate table name \"" + p.table_name + "\" (already served by " + dup->second + ")");
      table_owner[p.table_name] = path;
      loaded.push_back(std::move(p));
    }
  }
  return loaded;
}

}  // namespace clusterlite
