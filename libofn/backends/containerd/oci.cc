#include "libofn/backends/containerd/oci.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace ofn::containerd {

namespace json = boost::json;

std::string Sha256Digest(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

bool ValidDigest(std::string_view d) {
  if (d.size() != 71 || d.substr(0, 7) != "sha256:") return false;
  return std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// ---------------------------------------------------------------------------
// Image references

std::string ImageReference::Name() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<ImageReference> ParseImageReference(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "image reference \"" + std::string(text) + "\": " + why);
  };
  if (text.empty()) return bad("empty");
  ImageReference ref;
  std::string rest(text);
  if (size_t at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest.erase(at);
    if (!ValidDigest(ref.digest)) return bad("digest \"" + ref.digest + "\" is not sha256: and 64 hex digits");
  }
  // A tag follows the last ':' after the last '/'.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.erase(colon);
    if (ref.tag.empty() || ref.tag.size() > 128) return bad("tag must have 1 to 128 characters");
    for (char c : ref.tag) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
        return bad(std::string("tag has '") + c + "'");
      }
    }
  }
  size_t first = rest.find('/');
  std::string head = first == std::string::npos ? "" : rest.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string::npos || head.find(':') != std::string::npos ||
                        head == "localhost")) {
    ref.registry = head;
    ref.repository = rest.substr(first + 1);
  } else {
    ref.registry = "docker.io";
    ref.repository = rest;
  }
  if (ref.registry == "index.docker.io") ref.registry = "docker.io";
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (ref.repository.empty()) return bad("no repository");
  for (char c : ref.repository) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_' || c == '-')) {
      return bad(std::string("repository \"") + ref.repository + "\" has '" + c +
                 "' (lowercase letters, digits, '.', '_', '-' and '/' only)");
    }
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

// ---------------------------------------------------------------------------
// tar

namespace {

constexpr size_t kBlock = 512;

void PutOctal(char* field, size_t width, uint64_t value) {
  // width-1 octal digits and a NUL.
  std::string digits(width - 1, '0');
  for (size_t i = width - 1; i-- > 0 && value;) {
    digits[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  std::memcpy(field, digits.data(), width - 1);
  field[width - 1] = '\0';
}

void AppendHeader(std::string& out, std::string_view name, char type, uint32_t mode, uint32_t uid, uint32_t gid,
                  uint64_t size, std::string_view link) {
  char h[kBlock] = {};
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
  PutOctal(h + 100, 8, mode & 07777);
  PutOctal(h + 108, 8, uid);
  PutOctal(h + 116, 8, gid);
  PutOctal(h + 124, 12, size);
  PutOctal(h + 136, 12, 0);
  h[156] = type;
  std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  PutOctal(h + 148, 7, sum);
  h[155] = ' ';
  out.append(h, kBlock);
}

void AppendPadded(std::string& out, std::string_view data) {
  out.append(data);
  if (size_t rem = data.size() % kBlock) out.append(kBlock - rem, '\0');
}

// One pax record: "<len> key=value\n", where len counts the whole record.
std::string PaxRecord(std::string_view key, std::string_view value) {
  size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t len = body + std::to_string(body).size();
  if (std::to_string(len).size() + body != len) ++len;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

uint64_t ReadOctal(const char* field, size_t width, bool* ok) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < width && (field[i] == ' ' || field[i] == '\0')) ++i;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) v = (v << 3) | static_cast<uint64_t>(field[i] - '0');
  for (; i < width; ++i) {
    if (field[i] != ' ' && field[i] != '\0') *ok = false;
  }
  return v;
}

std::string CString(const char* field, size_t width) { return std::string(field, strnlen(field, width)); }

}  // namespace

std::string WriteTar(const std::vector<TarEntry>& entries) {
  std::string out;
  for (const TarEntry& e : entries) {
    std::string name = e.path;
    if (e.type == TarEntry::Type::kDirectory && (name.empty() || name.back() != '/')) name += '/';
    char type = e.type == TarEntry::Type::kDirectory ? '5'
                : e.type == TarEntry::Type::kSymlink ? '2'
                : e.type == TarEntry::Type::kHardlink ? '1'
                                                       : '0';
    if (name.size() > 100 || e.link.size() > 100) {
      std::string pax;
      if (name.size() > 100) pax += PaxRecord("path", name);
      if (e.link.size() > 100) pax += PaxRecord("linkpath", e.link);
      AppendHeader(out, "PaxHeaders/" + name.substr(0, 80), 'x', 0644, 0, 0, pax.size(), "");
      AppendPadded(out, pax);
    }
    const uint64_t size = e.type == TarEntry::Type::kFile ? e.data.size() : 0;
    AppendHeader(out, name, type, e.mode, e.uid, e.gid, size, e.link);
    if (size) AppendPadded(out, e.data);
  }
  out.append(2 * kBlock, '\0');
  return out;
}

Result<std::vector<TarEntry>> ReadTar(std::string_view a) {
  std::vector<TarEntry> out;
  std::string pax_path, pax_link, long_name, long_link;
  size_t off = 0;
  auto bad = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "tar archive at byte " + std::to_string(off) + ": " + why);
  };
  while (off + kBlock <= a.size()) {
    const char* h = a.data() + off;
    if (std::all_of(h, h + kBlock, [](char c) { return c == '\0'; })) break;  // end of archive
    bool ok = true;
    const uint64_t size = ReadOctal(h + 124, 12, &ok);
    const uint64_t mode = ReadOctal(h + 100, 8, &ok);
    const uint64_t uid = ReadOctal(h + 108, 8, &ok);
    const uint64_t gid = ReadOctal(h + 116, 8, &ok);
    const uint64_t want_sum = ReadOctal(h + 148, 8, &ok);
    if (!ok) return bad("header has a non-octal number field");
    uint64_t sum = 0;
    for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    if (sum != want_sum) return bad("header checksum does not match");
    const size_t data_off = off + kBlock;
    if (size > a.size() - data_off) return bad("entry of " + std::to_string(size) + " bytes runs past the end");
    std::string_view data = a.substr(data_off, size);
    const char type = h[156];
    off = data_off + (size + kBlock - 1) / kBlock * kBlock;
    if (type == 'x' || type == 'g') {
      // pax records: "<len> key=value\n"
      size_t p = 0;
      while (p < data.size()) {
        size_t sp = data.find(' ', p);
        if (sp == std::string_view::npos) return bad("pax record without a length");
        size_t len = 0;
        for (size_t i = p; i < sp; ++i) {
          if (data[i] < '0' || data[i] > '9') return bad("pax record length is not a number");
          len = len * 10 + static_cast<size_t>(data[i] - '0');
          if (len > data.size()) return bad("pax record runs past its header");
        }
        if (len == 0 || p + len > data.size()) return bad("pax record runs past its header");
        std::string_view rec = data.substr(sp + 1, p + len - sp - 2);
        size_t eq = rec.find('=');
        if (eq != std::string_view::npos && type == 'x') {
          if (rec.substr(0, eq) == "path") pax_path = rec.substr(eq + 1);
          if (rec.substr(0, eq) == "linkpath") pax_link = rec.substr(eq + 1);
        }
        p += len;
      }
      continue;
    }
    if (type == 'L' || type == 'K') {
      std::string s(data.substr(0, strnlen(data.data(), data.size())));
      (type == 'L' ? long_name : long_link) = s;
      continue;
    }
    TarEntry e;
    std::string prefix = CString(h + 345, 155);
    e.path = CString(h, 100);
    if (!prefix.empty() && std::memcmp(h + 257, "ustar", 5) == 0) e.path = prefix + "/" + e.path;
    e.link = CString(h + 157, 100);
    if (!long_name.empty()) e.path = long_name;
    if (!pax_path.empty()) e.path = pax_path;
    if (!long_link.empty()) e.link = long_link;
    if (!pax_link.empty()) e.link = pax_link;
    pax_path.clear(), pax_link.clear(), long_name.clear(), long_link.clear();
    while (e.path.rfind("./", 0) == 0) e.path.erase(0, 2);
    while (!e.path.empty() && e.path.front() == '/') e.path.erase(0, 1);
    e.mode = static_cast<uint32_t>(mode);
    e.uid = static_cast<uint32_t>(uid);
    e.gid = static_cast<uint32_t>(gid);
    switch (type) {
      case '0':
      case '\0':
      case '7':
        e.type = TarEntry::Type::kFile;
        e.data = std::string(data);
        break;
      case '5':
        e.type = TarEntry::Type::kDirectory;
        break;
      case '2':
        e.type = TarEntry::Type::kSymlink;
        break;
      case '1':
        e.type = TarEntry::Type::kHardlink;
        break;
      default:
        continue;  // devices, fifos
    }
    if (e.path.empty() || e.path == ".") continue;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<TarEntry>> DirectoryEntries(const std::string& dir, std::string_view dest) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status(StatusCode::kNotFound, "\"" + dir + "\" is not a directory");
  }
  std::string prefix(dest);
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  std::vector<TarEntry> out;
  // The directories leading to dest.
  for (size_t p = prefix.find('/'); p != std::string::npos; p = prefix.find('/', p + 1)) {
    TarEntry d;
    d.path = prefix.substr(0, p + 1);
    d.type = TarEntry::Type::kDirectory;
    d.mode = 0755;
    out.push_back(std::move(d));
  }
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    paths.push_back(it->path());
  }
  if (ec) return Status(StatusCode::kInternal, "reading \"" + dir + "\": " + ec.message());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;
    TarEntry e;
    e.path = prefix + p.lexically_relative(dir).generic_string();
    e.mode = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) {
      e.type = TarEntry::Type::kDirectory;
    } else if (S_ISLNK(st.st_mode)) {
      e.type = TarEntry::Type::kSymlink;
      e.link = fs::read_symlink(p, ec).string();
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      e.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } else {
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

// ---------------------------------------------------------------------------
// gzip

Result<std::string> Gzip(std::string_view data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer; memLevel 8.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status(StatusCode::kInternal, "zlib deflateInit2 failed");
  }
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Status(StatusCode::kInternal, "zlib deflate did not finish");
  return out;
}

Result<std::string> Gunzip(std::string_view data, size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return Status(StatusCode::kInternal, "zlib inflateInit2 failed");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  char buf[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return Status(StatusCode::kInvalidArgument,
                    "gzip data is corrupt at byte " + std::to_string(z.total_in) + (z.msg ? std::string(": ") + z.msg : ""));
    }
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&z);
      return Status(StatusCode::kResourceExhausted, "gzip data expands past " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return Status(StatusCode::kInvalidArgument, "gzip data ends early");
    }
  }
  inflateEnd(&z);
  return out;
}

// ---------------------------------------------------------------------------
// Manifests and configs

namespace {

Blob MakeBlob(std::string_view media_type, std::string data) {
  Blob b;
  b.media_type = std::string(media_type);
  b.digest = Sha256Digest(data);
  b.size = static_cast<int64_t>(data.size());
  b.data = std::move(data);
  return b;
}

json::object Descriptor(const Blob& b) {
  return json::object{{"mediaType", b.media_type}, {"digest", b.digest}, {"size", b.size}};
}

Result<json::value> ParseJson(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status(StatusCode::kInvalidArgument, std::string(what) + " is not JSON: " + ec.message());
  if (!v.is_object()) return Status(StatusCode::kInvalidArgument, std::string(what) + " is not a JSON object");
  return v;
}

Result<Blob> ParseDescriptor(const json::value& v, std::string_view where) {
  auto bad = [&](const std::string& why) { return Status(StatusCode::kInvalidArgument, std::string(where) + ": " + why); };
  if (!v.is_object()) return bad("not an object");
  const json::object& o = v.as_object();
  Blob b;
  if (auto* m = o.if_contains("mediaType"); m && m->is_string()) b.media_type = std::string(m->as_string());
  auto* d = o.if_contains("digest");
  if (!d || !d->is_string() || !ValidDigest(d->as_string())) return bad("digest is missing or not sha256:<64 hex>");
  b.digest = std::string(d->as_string());
  auto* s = o.if_contains("size");
  if (!s || !s->is_int64() || s->as_int64() < 0) return bad("size is missing or negative");
  b.size = s->as_int64();
  return b;
}

std::vector<std::string> Strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (auto* v = o.if_contains(key); v && v->is_array()) {
    for (const json::value& s : v->as_array()) {
      if (s.is_string()) out.emplace_back(s.as_string());
    }
  }
  return out;
}

json::array Array(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.emplace_back(s);
  return a;
}

std::string EnvName(std::string_view kv) { return std::string(kv.substr(0, kv.find('='))); }

}  // namespace

std::string ChainId(const std::vector<std::string>& diff_ids) {
  std::string chain;
  for (const std::string& d : diff_ids) chain = chain.empty() ? d : Sha256Digest(chain + " " + d);
  return chain;
}

Result<OciImage> ParseImageConfig(std::string_view text) {
  OFN_ASSIGN_OR_RETURN(json::value v, ParseJson(text, "image config"));
  const json::object& o = v.as_object();
  OciImage img;
  if (auto* a = o.if_contains("architecture"); a && a->is_string()) img.architecture = std::string(a->as_string());
  if (auto* a = o.if_contains("os"); a && a->is_string()) img.os = std::string(a->as_string());
  auto* rootfs = o.if_contains("rootfs");
  if (!rootfs || !rootfs->is_object()) return Status(StatusCode::kInvalidArgument, "image config: rootfs is missing");
  img.diff_ids = Strings(rootfs->as_object(), "diff_ids");
  for (const std::string& d : img.diff_ids) {
    if (!ValidDigest(d)) return Status(StatusCode::kInvalidArgument, "image config: rootfs.diff_ids has \"" + d + "\"");
  }
  if (auto* c = o.if_contains("config"); c && c->is_object()) {
    const json::object& cfg = c->as_object();
    ImageConfig& ic = img.image_config;
    ic.entrypoint = Strings(cfg, "Entrypoint");
    ic.cmd = Strings(cfg, "Cmd");
    ic.env = Strings(cfg, "Env");
    if (auto* w = cfg.if_contains("WorkingDir"); w && w->is_string()) ic.working_dir = std::string(w->as_string());
    if (auto* u = cfg.if_contains("User"); u && u->is_string()) ic.user = std::string(u->as_string());
    if (auto* p = cfg.if_contains("ExposedPorts"); p && p->is_object()) {
      for (const auto& kv : p->as_object()) ic.exposed_ports.emplace_back(kv.key());
    }
    if (auto* l = cfg.if_contains("Labels"); l && l->is_object()) {
      for (const auto& kv : l->as_object()) {
        if (kv.value().is_string()) ic.labels[std::string(kv.key())] = std::string(kv.value().as_string());
      }
    }
  }
  return img;
}

Result<ManifestInfo> ParseManifest(std::string_view text) {
  OFN_ASSIGN_OR_RETURN(json::value v, ParseJson(text, "image manifest"));
  const json::object& o = v.as_object();
  ManifestInfo m;
  auto* c = o.if_contains("config");
  if (!c) return Status(StatusCode::kInvalidArgument, "image manifest: config is missing (is it an index?)");
  OFN_ASSIGN_OR_RETURN(m.config, ParseDescriptor(*c, "image manifest: config"));
  auto* layers = o.if_contains("layers");
  if (!layers || !layers->is_array()) return Status(StatusCode::kInvalidArgument, "image manifest: layers is missing");
  size_t i = 0;
  for (const json::value& l : layers->as_array()) {
    OFN_ASSIGN_OR_RETURN(Blob b, ParseDescriptor(l, "image manifest: layers[" + std::to_string(i++) + "]"));
    m.layers.push_back(std::move(b));
  }
  return m;
}

Result<Blob> SelectManifest(std::string_view text, std::string_view os, std::string_view arch) {
  OFN_ASSIGN_OR_RETURN(json::value v, ParseJson(text, "image index"));
  auto* ms = v.as_object().if_contains("manifests");
  if (!ms || !ms->is_array()) return Status(StatusCode::kInvalidArgument, "image index: manifests is missing");
  std::string seen;
  size_t i = 0;
  for (const json::value& m : ms->as_array()) {
    OFN_ASSIGN_OR_RETURN(Blob b, ParseDescriptor(m, "image index: manifests[" + std::to_string(i++) + "]"));
    std::string mos, march;
    if (auto* p = m.as_object().if_contains("platform"); p && p->is_object()) {
      if (auto* x = p->as_object().if_contains("os"); x && x->is_string()) mos = std::string(x->as_string());
      if (auto* x = p->as_object().if_contains("architecture"); x && x->is_string()) march = std::string(x->as_string());
    }
    if (mos == os && march == arch) return b;
    seen += (seen.empty() ? "" : ", ") + (mos.empty() ? std::string("?") : mos) + "/" + (march.empty() ? "?" : march);
  }
  return Status(StatusCode::kNotFound, "the image has no manifest for " + std::string(os) + "/" + std::string(arch) +
                                           " (it has: " + (seen.empty() ? std::string("none") : seen) + ")");
}

Result<OciImage> BuildImage(const ImageBuild& b) {
  OciImage img;
  ImageConfig cfg;
  if (b.base) {
    img.layers = b.base->layers;
    img.diff_ids = b.base->diff_ids;
    img.architecture = b.base->architecture;
    img.os = b.base->os;
    cfg = b.base->image_config;
    if (!b.inherit_command || !b.config.entrypoint.empty() || !b.config.cmd.empty()) {
      cfg.entrypoint.clear();
      cfg.cmd.clear();
    }
  }
  if (!b.files.empty()) {
    std::string tar = WriteTar(b.files);
    OFN_ASSIGN_OR_RETURN(std::string gz, Gzip(tar));
    img.diff_ids.push_back(Sha256Digest(tar));
    img.layers.push_back(MakeBlob(kOciLayerGzip, std::move(gz)));
  }
  const ImageConfig& c = b.config;
  if (!c.entrypoint.empty()) cfg.entrypoint = c.entrypoint;
  if (!c.cmd.empty()) cfg.cmd = c.cmd;
  for (const std::string& kv : c.env) {
    std::erase_if(cfg.env, [&](const std::string& e) { return EnvName(e) == EnvName(kv); });
    cfg.env.push_back(kv);
  }
  if (!c.working_dir.empty()) cfg.working_dir = c.working_dir;
  if (!c.user.empty()) cfg.user = c.user;
  for (const std::string& p : c.exposed_ports) {
    if (std::find(cfg.exposed_ports.begin(), cfg.exposed_ports.end(), p) == cfg.exposed_ports.end()) {
      cfg.exposed_ports.push_back(p);
    }
  }
  for (const auto& [k, v] : c.labels) cfg.labels[k] = v;
  img.image_config = cfg;

  json::object config_obj;
  if (!cfg.entrypoint.empty()) config_obj["Entrypoint"] = Array(cfg.entrypoint);
  if (!cfg.cmd.empty()) config_obj["Cmd"] = Array(cfg.cmd);
  if (!cfg.env.empty()) config_obj["Env"] = Array(cfg.env);
  if (!cfg.working_dir.empty()) config_obj["WorkingDir"] = cfg.working_dir;
  if (!cfg.user.empty()) config_obj["User"] = cfg.user;
  if (!cfg.exposed_ports.empty()) {
    json::object ports;
    for (const std::string& p : cfg.exposed_ports) ports[p] = json::object();
    config_obj["ExposedPorts"] = std::move(ports);
  }
  if (!cfg.labels.empty()) {
    json::object labels;
    for (const auto& [k, v] : cfg.labels) labels[k] = v;
    config_obj["Labels"] = std::move(labels);
  }
  json::object config{{"architecture", img.architecture},
                      {"os", img.os},
                      {"created", "1970-01-01T00:00:00Z"},
                      {"config", std::move(config_obj)},
                      {"rootfs", json::object{{"type", "layers"}, {"diff_ids", Array(img.diff_ids)}}}};
  img.config = MakeBlob(kOciConfig, json::serialize(config));
  json::array layers;
  for (const Blob& l : img.layers) layers.push_back(Descriptor(l));
  json::object manifest{{"schemaVersion", 2},
                        {"mediaType", kOciManifest},
                        {"config", Descriptor(img.config)},
                        {"layers", std::move(layers)}};
  img.manifest = MakeBlob(kOciManifest, json::serialize(manifest));
  return img;
}

// ---------------------------------------------------------------------------
// Archives

namespace {

std::string BlobPath(std::string_view digest) { return "blobs/sha256/" + std::string(digest.substr(7)); }

Result<ImageArchive> ReadDockerArchive(const std::map<std::string, std::string_view>& files, std::string_view fallback) {
  OFN_ASSIGN_OR_RETURN(json::value v, [&]() -> Result<json::value> {
    boost::system::error_code ec;
    json::value parsed = json::parse(files.at("manifest.json"), ec);
    if (ec || !parsed.is_array()) return Status(StatusCode::kInvalidArgument, "manifest.json is not a JSON array");
    return parsed;
  }());
  ImageArchive out;
  size_t i = 0;
  for (const json::value& m : v.as_array()) {
    const std::string where = "manifest.json[" + std::to_string(i++) + "]";
    if (!m.is_object()) return Status(StatusCode::kInvalidArgument, where + " is not an object");
    auto* cfg = m.as_object().if_contains("Config");
    if (!cfg || !cfg->is_string() || !files.count(std::string(cfg->as_string()))) {
      return Status(StatusCode::kInvalidArgument, where + ".Config names no file of the archive");
    }
    ManifestInfo info;
    info.config = MakeBlob(kDockerConfig, std::string(files.at(std::string(cfg->as_string()))));
    for (const std::string& layer : Strings(m.as_object(), "Layers")) {
      auto it = files.find(layer);
      if (it == files.end()) return Status(StatusCode::kInvalidArgument, where + ".Layers names missing \"" + layer + "\"");
      const bool gz = it->second.size() > 2 && static_cast<unsigned char>(it->second[0]) == 0x1f &&
                      static_cast<unsigned char>(it->second[1]) == 0x8b;
      info.layers.push_back(MakeBlob(gz ? kDockerLayerGzip : kDockerLayer, std::string(it->second)));
    }
    json::array layers;
    for (const Blob& l : info.layers) layers.push_back(Descriptor(l));
    json::object manifest{{"schemaVersion", 2},
                          {"mediaType", kDockerManifest},
                          {"config", Descriptor(info.config)},
                          {"layers", std::move(layers)}};
    Blob mb = MakeBlob(kDockerManifest, json::serialize(manifest));
    out.blobs[info.config.digest] = info.config;
    for (const Blob& l : info.layers) out.blobs[l.digest] = l;
    out.blobs[mb.digest] = mb;
    std::vector<std::string> tags = Strings(m.as_object(), "RepoTags");
    if (tags.empty() && !fallback.empty()) tags.emplace_back(fallback);
    if (tags.empty()) return Status(StatusCode::kInvalidArgument, where + " has no RepoTags; give the image a name");
    for (const std::string& t : tags) {
      OFN_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(t));
      Blob desc = mb;
      desc.data.clear();
      out.images.emplace_back(ref.Name(), std::move(desc));
    }
  }
  return out;
}

}  // namespace

Result<ImageArchive> ReadImageArchive(std::string_view tar, std::string_view fallback_name) {
  OFN_ASSIGN_OR_RETURN(std::vector<TarEntry> entries, ReadTar(tar));
  std::map<std::string, std::string_view> files;
  for (const TarEntry& e : entries) {
    if (e.type == TarEntry::Type::kFile) files[e.path] = e.data;
  }
  if (!files.count("index.json")) {
    if (files.count("manifest.json")) return ReadDockerArchive(files, fallback_name);
    return Status(StatusCode::kInvalidArgument,
                  "not an image archive: it has neither index.json (OCI image layout) nor manifest.json (docker save)");
  }
  ImageArchive out;
  for (const auto& [path, data] : files) {
    if (path.rfind("blobs/sha256/", 0) != 0) continue;
    Blob b;
    b.digest = "sha256:" + path.substr(13);
    if (!ValidDigest(b.digest)) return Status(StatusCode::kInvalidArgument, "archive entry \"" + path + "\" is not a sha256 blob");
    if (Sha256Digest(data) != b.digest) {
      return Status(StatusCode::kInvalidArgument, "archive blob \"" + path + "\" does not match its digest");
    }
    b.size = static_cast<int64_t>(data.size());
    b.data = std::string(data);
    out.blobs[b.digest] = std::move(b);
  }
  OFN_ASSIGN_OR_RETURN(json::value index, ParseJson(files["index.json"], "index.json"));
  auto* ms = index.as_object().if_contains("manifests");
  if (!ms || !ms->is_array()) return Status(StatusCode::kInvalidArgument, "index.json: manifests is missing");
  size_t i = 0;
  for (const json::value& m : ms->as_array()) {
    const std::string where = "index.json: manifests[" + std::to_string(i++) + "]";
    OFN_ASSIGN_OR_RETURN(Blob desc, ParseDescriptor(m, where));
    auto it = out.blobs.find(desc.digest);
    if (it == out.blobs.end()) return Status(StatusCode::kInvalidArgument, where + " names a blob the archive lacks");
    it->second.media_type = desc.media_type;
    std::string name;
    if (auto* a = m.as_object().if_contains("annotations"); a && a->is_object()) {
      for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
        if (auto* n = a->as_object().if_contains(key); n && n->is_string() && name.empty()) {
          name = std::string(n->as_string());
        }
      }
    }
    // A bare tag ("v1") as OCI layouts write it: the fallback's repository.
    if (!name.empty() && name.find('/') == std::string::npos && name.find(':') == std::string::npos &&
        !fallback_name.empty()) {
      OFN_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(fallback_name));
      ref.tag = name;
      ref.digest.clear();
      name = ref.Name();
    }
    if (name.empty()) name = std::string(fallback_name);
    if (name.empty()) return Status(StatusCode::kInvalidArgument, where + " has no image name; give the image a name");
    OFN_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(name));
    out.images.emplace_back(ref.Name(), std::move(desc));
  }
  return out;
}

std::string WriteImageArchive(const OciImage& image, std::string_view name) {
  std::vector<TarEntry> entries;
  auto file = [&](std::string path, std::string data) {
    TarEntry e;
    e.path = std::move(path);
    e.data = std::move(data);
    entries.push_back(std::move(e));
  };
  TarEntry dir;
  dir.type = TarEntry::Type::kDirectory;
  dir.mode = 0755;
  for (const char* d : {"blobs/", "blobs/sha256/"}) {
    dir.path = d;
    entries.push_back(dir);
  }
  file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  json::object desc = Descriptor(image.manifest);
  desc["annotations"] = json::object{{"io.containerd.image.name", name}};
  file("index.json", json::serialize(json::object{{"schemaVersion", 2}, {"mediaType", kOciIndex},
                                                  {"manifests", json::array{std::move(desc)}}}));
  std::set<std::string> written;
  for (const Blob* b : [&] {
         std::vector<const Blob*> all{&image.manifest, &image.config};
         for (const Blob& l : image.layers) all.push_back(&l);
         return all;
       }()) {
    if (b->data.empty() || !written.insert(b->digest).second) continue;
    file(BlobPath(b->digest), b->data);
  }
  return WriteTar(entries);
}

}  // namespace ofn::containerd
