#include "libofn/build/source.h"

#include <git2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "libofn/common/base64.h"

namespace ofn::build {

namespace fs = std::filesystem;

namespace {

void InitGit() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

std::string GitError(std::string_view what) {
  const git_error* e = git_error_last();
  return std::string(what) + ": " + (e && e->message ? e->message : "unknown error");
}

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using Repo = std::unique_ptr<git_repository, GitDeleter<git_repository, git_repository_free>>;
using Remote = std::unique_ptr<git_remote, GitDeleter<git_remote, git_remote_free>>;
using Object = std::unique_ptr<git_object, GitDeleter<git_object, git_object_free>>;
using Tree = std::unique_ptr<git_tree, GitDeleter<git_tree, git_tree_free>>;
using TreeEntry = std::unique_ptr<git_tree_entry, GitDeleter<git_tree_entry, git_tree_entry_free>>;
using Blob = std::unique_ptr<git_blob, GitDeleter<git_blob, git_blob_free>>;

std::string Hex(const unsigned char* d, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[d[i] >> 4];
    out += digits[d[i] & 15];
  }
  return out;
}

std::string OidText(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof(buf), oid);
  return buf;
}

// What libgit2 asks for when the remote wants credentials. Each kind is
// offered once: a refused one ends the fetch instead of looping.
struct AuthState {
  const SourceSpec* spec;
  int asked = 0;
  bool refused = false;
  std::string host_key_problem;  // set when the SSH host key is refused
};

// The port of an ssh:// URL (22 when it names none).
int SshPort(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return 22;
  std::string authority = url.substr(scheme + 3, url.find('/', scheme + 3) - scheme - 3);
  authority = authority.substr(authority.rfind('@') == std::string::npos ? 0 : authority.rfind('@') + 1);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.back() == ']') return 22;
  return std::atoi(authority.c_str() + colon + 1);
}

// libgit2 shows SSH host keys here: the key must be in known_hosts.
int CertificateCheck(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;  // TLS: libgit2's own check
  auto* st = static_cast<AuthState*>(payload);
  auto* hk = reinterpret_cast<git_cert_hostkey*>(cert);
  const int port = SshPort(st->spec->url);
  const std::string where = port == 22 ? std::string(host) : "[" + std::string(host) + "]:" + std::to_string(port);
  if (!(hk->type & GIT_CERT_SSH_RAW)) {
    st->host_key_problem = "the SSH server " + where + " showed no host key to check";
    git_error_set_str(GIT_ERROR_SSH, st->host_key_problem.c_str());
    return GIT_ECERTIFICATE;
  }
  std::string raw(hk->hostkey, hk->hostkey_len);
  // The key blob starts with its type as an SSH string.
  std::string type;
  if (raw.size() >= 4) {
    uint32_t n = (static_cast<uint8_t>(raw[0]) << 24) | (static_cast<uint8_t>(raw[1]) << 16) |
                 (static_cast<uint8_t>(raw[2]) << 8) | static_cast<uint8_t>(raw[3]);
    if (n <= raw.size() - 4) type = raw.substr(4, n);
  }
  const std::string b64 = Base64Encode(raw);
  if (KnownHost(st->spec->known_hosts, host, port, type, b64)) return 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(raw.data(), raw.size(), digest, &len, EVP_sha256(), nullptr);
  std::string fingerprint = Base64Encode(std::string_view(reinterpret_cast<const char*>(digest), len));
  while (!fingerprint.empty() && fingerprint.back() == '=') fingerprint.pop_back();
  st->host_key_problem = "the SSH host key of " + where + " (" + type + " SHA256:" + fingerprint + ") is not in " +
                         (st->spec->known_hosts.empty() ? std::string("any known_hosts (none given)")
                                                        : std::string("the known_hosts given")) +
                         ": add it to the credentials Secret's known_hosts or the builder's known_hosts file "
                         "(ssh-keyscan" + (port == 22 ? "" : " -p " + std::to_string(port)) + " " + host + ")";
  git_error_set_str(GIT_ERROR_SSH, st->host_key_problem.c_str());
  return GIT_ECERTIFICATE;
}

int Credentials(git_credential** out, const char* url, const char* user_from_url, unsigned int allowed, void* payload) {
  auto* st = static_cast<AuthState*>(payload);
  if (++st->asked > 1) {
    st->refused = true;
    git_error_set_str(GIT_ERROR_NET, (std::string("the credentials for ") + url + " were refused").c_str());
    return GIT_EUSER;
  }
  const SourceSpec& s = *st->spec;
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !s.ssh_private_key.empty()) {
    std::string user = user_from_url && *user_from_url ? user_from_url : (s.username.empty() ? "git" : s.username);
    return git_credential_ssh_key_memory_new(out, user.c_str(), nullptr, s.ssh_private_key.c_str(),
                                             s.ssh_passphrase.empty() ? nullptr : s.ssh_passphrase.c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && (!s.username.empty() || !s.password.empty())) {
    return git_credential_userpass_plaintext_new(out, s.username.c_str(), s.password.c_str());
  }
  st->refused = true;
  git_error_set_str(GIT_ERROR_NET, (std::string(url) + " asks for credentials and srcRepo.credentials gives none").c_str());
  return GIT_EUSER;
}

Status FetchError(const AuthState& auth, std::string_view what) {
  if (!auth.host_key_problem.empty()) {
    return Status(StatusCode::kPermissionDenied, std::string(what) + ": " + auth.host_key_problem);
  }
  return Status(auth.refused ? StatusCode::kPermissionDenied : StatusCode::kUnavailable, GitError(what));
}

// The remote's refs (name, commit id), as it advertises them (ls-remote).
Result<std::vector<std::pair<std::string, std::string>>> ListRemote(git_remote* remote, AuthState* auth,
                                                                    const std::string& url) {
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  callbacks.credentials = Credentials;
  callbacks.certificate_check = CertificateCheck;
  callbacks.payload = auth;
  if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr) != 0) {
    return FetchError(*auth, "listing " + url);
  }
  const git_remote_head** heads = nullptr;
  size_t n = 0;
  std::vector<std::pair<std::string, std::string>> out;
  const bool listed = git_remote_ls(&heads, &n, remote) == 0;
  for (size_t i = 0; listed && i < n; ++i) out.emplace_back(heads[i]->name, OidText(&heads[i]->oid));
  git_remote_disconnect(remote);
  if (!listed) return FetchError(*auth, "listing " + url);
  return out;
}

bool SafeName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

// Writes `tree` into `dir` (which exists): files with their mode,
// symbolic links, sub-trees; submodules are skipped.
Status WriteTree(git_repository* repo, const git_tree* tree, const fs::path& dir, std::string* log) {
  size_t n = git_tree_entrycount(tree);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree, i);
    std::string name = git_tree_entry_name(e);
    if (!SafeName(name)) return Status(StatusCode::kInvalidArgument, "the tree has an entry named \"" + name + "\"");
    fs::path path = dir / name;
    git_filemode_t mode = git_tree_entry_filemode(e);
    if (mode == GIT_FILEMODE_TREE) {
      Tree sub;
      git_tree* t = nullptr;
      if (git_tree_lookup(&t, repo, git_tree_entry_id(e)) != 0) return Status(StatusCode::kInternal, GitError(name));
      sub.reset(t);
      std::error_code ec;
      fs::create_directory(path, ec);
      if (ec) return Status(StatusCode::kInternal, "mkdir " + path.string() + ": " + ec.message());
      OFN_RETURN_IF_ERROR(WriteTree(repo, sub.get(), path, log));
      continue;
    }
    if (mode == GIT_FILEMODE_COMMIT) {
      *log += "skipped submodule " + path.string() + "\n";
      continue;
    }
    git_blob* b = nullptr;
    if (git_blob_lookup(&b, repo, git_tree_entry_id(e)) != 0) return Status(StatusCode::kInternal, GitError(name));
    Blob blob(b);
    const char* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
    auto size = static_cast<size_t>(git_blob_rawsize(blob.get()));
    if (mode == GIT_FILEMODE_LINK) {
      if (::symlink(std::string(data, size).c_str(), path.c_str()) != 0) {
        return Status(StatusCode::kInternal, "symlink " + path.string() + " failed");
      }
      continue;
    }
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return Status(StatusCode::kInternal, "cannot write " + path.string());
    bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
    ok = std::fclose(f) == 0 && ok;
    if (!ok) return Status(StatusCode::kInternal, "cannot write " + path.string());
    ::chmod(path.c_str(), mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
  }
  return Status::Ok();
}

std::string CleanSubPath(std::string p) {
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

bool IsUrl(const std::string& s) { return s.find("://") != std::string::npos || s.rfind("git@", 0) == 0; }

// A plain directory: copied, with a digest of every path, mode and content.
Result<FetchedSource> CopyDirectory(const SourceSpec& spec, const std::string& dest_dir) {
  fs::path root = spec.url.rfind("file://", 0) == 0 ? fs::path(spec.url.substr(7)) : fs::path(spec.url);
  std::string sub = CleanSubPath(spec.sub_path);
  fs::path from = sub.empty() ? root : root / sub;
  std::error_code ec;
  if (!fs::is_directory(from, ec)) {
    return Status(StatusCode::kNotFound, "spec.build.srcRepo: " + from.string() + " is not a directory");
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    files.push_back(fs::relative(it->path(), from));
  }
  if (ec) return Status(StatusCode::kInternal, "reading " + from.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  fs::create_directories(dest_dir, ec);
  for (const fs::path& rel : files) {
    fs::path src = from / rel, dst = fs::path(dest_dir) / rel;
    auto st = fs::symlink_status(src, ec);
    std::string header = rel.string() + '\0' + std::to_string(static_cast<int>(st.permissions())) + '\0';
    if (fs::is_symlink(st)) {
      std::string target = fs::read_symlink(src, ec).string();
      fs::create_symlink(target, dst, ec);
      header += "link:" + target;
    } else if (fs::is_directory(st)) {
      fs::create_directories(dst, ec);
      header += "dir";
    } else if (fs::is_regular_file(st)) {
      std::ifstream in(src, std::ios::binary);
      std::ostringstream data;
      data << in.rdbuf();
      std::string bytes = data.str();
      EVP_DigestUpdate(md.get(), bytes.data(), bytes.size());
      fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) return Status(StatusCode::kInternal, "copying " + src.string() + ": " + ec.message());
    EVP_DigestUpdate(md.get(), header.data(), header.size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md.get(), digest, &len);
  FetchedSource out;
  out.url = root.string();
  out.commit = "dir:" + Hex(digest, 12);
  out.log = "copied " + std::to_string(files.size()) + " entries from " + from.string() + "\n";
  return out;
}

std::string CacheName(const std::string& url) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(url.data(), url.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(digest, 10) + ".git";
}

// The object `revision` names in a fetched cache: a branch, a tag, or a
// (possibly short) commit id.
Result<std::string> ResolveRevision(git_repository* repo, const std::string& revision, const std::string& head) {
  if (revision.empty()) {
    if (head.empty()) return Status(StatusCode::kNotFound, "the remote has no HEAD; set spec.build.srcRepo.revision");
    return head;
  }
  for (const std::string& candidate :
       {"refs/remotes/origin/" + revision, "refs/tags/" + revision, revision}) {
    git_object* o = nullptr;
    if (git_revparse_single(&o, repo, candidate.c_str()) != 0) continue;
    Object obj(o);
    git_object* c = nullptr;
    if (git_object_peel(&c, obj.get(), GIT_OBJECT_COMMIT) != 0) continue;
    Object commit(c);
    return OidText(git_object_id(commit.get()));
  }
  return Status(StatusCode::kNotFound,
                "spec.build.srcRepo.revision: \"" + revision + "\" is no branch, tag or commit of the repository");
}

}  // namespace

bool KnownHost(const std::string& known_hosts, const std::string& host, int port, const std::string& key_type,
               const std::string& key_base64) {
  const std::string name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::istringstream in(known_hosts);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hosts, type, key;
    if (!(fields >> hosts >> type >> key) || hosts.empty() || hosts[0] == '#' || hosts[0] == '@') continue;
    if (type != key_type || key != key_base64) continue;
    bool match = false;
    if (hosts.rfind("|1|", 0) == 0) {
      // Hashed: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
      size_t bar = hosts.find('|', 3);
      Result<std::string> salt = Base64Decode(hosts.substr(3, bar - 3));
      Result<std::string> want = Base64Decode(bar == std::string::npos ? "" : hosts.substr(bar + 1));
      if (salt.ok() && want.ok()) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()), reinterpret_cast<const unsigned char*>(name.data()),
             name.size(), mac, &len);
        match = std::string(reinterpret_cast<const char*>(mac), len) == *want;
      }
    } else {
      for (size_t start = 0; start <= hosts.size();) {
        size_t comma = hosts.find(',', start);
        if (hosts.substr(start, comma == std::string::npos ? std::string::npos : comma - start) == name) match = true;
        start = comma == std::string::npos ? hosts.size() + 1 : comma + 1;
      }
    }
    if (match) return true;
  }
  return false;
}

std::string ApplyMirrors(const std::string& url, const std::vector<std::pair<std::string, std::string>>& mirrors) {
  const std::pair<std::string, std::string>* best = nullptr;
  for (const auto& m : mirrors) {
    if (!m.first.empty() && url.rfind(m.first, 0) == 0 && (!best || m.first.size() > best->first.size())) best = &m;
  }
  return best ? best->second + url.substr(best->first.size()) : url;
}

bool CredentialsFromFile(const std::string& file_text, const std::string& url, std::string* username,
                         std::string* password) {
  auto split = [](const std::string& u, std::string* scheme, std::string* userinfo, std::string* host,
                  std::string* path) {
    size_t s = u.find("://");
    if (s == std::string::npos) return false;
    *scheme = u.substr(0, s);
    std::string rest = u.substr(s + 3);
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    *path = slash == std::string::npos ? "" : rest.substr(slash + 1);
    size_t at = authority.rfind('@');
    *userinfo = at == std::string::npos ? "" : authority.substr(0, at);
    *host = at == std::string::npos ? authority : authority.substr(at + 1);
    return true;
  };
  auto unescape = [](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::string scheme, userinfo, host, path;
  if (!split(url, &scheme, &userinfo, &host, &path)) return false;
  std::istringstream in(file_text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    std::string ls, lu, lh, lp;
    if (line.empty() || !split(line, &ls, &lu, &lh, &lp)) continue;
    if (ls != scheme || lh != host || lu.empty()) continue;
    if (!lp.empty() && path.rfind(lp, 0) != 0) continue;
    size_t colon = lu.find(':');
    *username = unescape(lu.substr(0, colon));
    *password = colon == std::string::npos ? "" : unescape(lu.substr(colon + 1));
    return true;
  }
  return false;
}

Result<FetchedSource> FetchSource(const SourceSpec& spec, const std::string& cache_dir, const std::string& dest_dir) {
  InitGit();
  std::error_code ec;
  if (fs::exists(dest_dir, ec)) return Status(StatusCode::kAlreadyExists, dest_dir + " exists");
  if (!IsUrl(spec.url) || spec.url.rfind("file://", 0) == 0) {
    // A local path: a git repository (fetched like any remote) or a plain directory.
    std::string path = spec.url.rfind("file://", 0) == 0 ? spec.url.substr(7) : spec.url;
    git_repository* probe = nullptr;
    if (git_repository_open_ext(&probe, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
      if (!fs::is_directory(path, ec)) {
        return Status(StatusCode::kNotFound, "spec.build.srcRepo.url: " + spec.url + " is no repository or directory");
      }
      return CopyDirectory(spec, dest_dir);
    }
    git_repository_free(probe);
  }
  FetchedSource out;
  out.url = spec.url;
  fs::create_directories(cache_dir, ec);
  std::string cache = (fs::path(cache_dir) / CacheName(spec.url)).string();
  git_repository* r = nullptr;
  if (git_repository_open_bare(&r, cache.c_str()) != 0 && git_repository_init(&r, cache.c_str(), 1) != 0) {
    return Status(StatusCode::kInternal, GitError("creating the repository cache " + cache));
  }
  Repo repo(r);
  git_remote* rm = nullptr;
  if (git_remote_create_anonymous(&rm, repo.get(), spec.url.c_str()) != 0) {
    return Status(StatusCode::kInvalidArgument, GitError("spec.build.srcRepo.url " + spec.url));
  }
  Remote remote(rm);
  AuthState auth{&spec, 0, false, ""};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.credentials = Credentials;
  opts.callbacks.certificate_check = CertificateCheck;
  opts.callbacks.payload = &auth;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  opts.prune = GIT_FETCH_PRUNE;
  // Only the ref the revision names when the remote has it as a branch or
  // a tag (its history, not the other branches'); else every branch and
  // tag (a commit id, or the remote's HEAD). libgit2 1.5 has no depth
  // limit, so the history comes whole.
  std::vector<std::string> wanted = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
  if (!spec.revision.empty()) {
    OFN_ASSIGN_OR_RETURN(auto refs, ListRemote(remote.get(), &auth, spec.url));
    for (const auto& [name, oid] : refs) {
      if (name == "refs/heads/" + spec.revision) {
        wanted = {"+" + name + ":refs/remotes/origin/" + spec.revision};
        break;
      }
      if (name == "refs/tags/" + spec.revision) wanted = {"+" + name + ":" + name};
    }
    auth.asked = 0;  // the fetch asks again
  }
  std::vector<char*> specs;
  for (std::string& w : wanted) specs.push_back(w.data());
  git_strarray refspecs{specs.data(), specs.size()};
  if (git_remote_fetch(remote.get(), &refspecs, &opts, nullptr) != 0) {
    return FetchError(auth, "fetching " + spec.url);
  }
  if (wanted.size() == 1) out.log += "fetched only " + wanted[0].substr(1, wanted[0].find(':') - 1) + "\n";
  const git_indexer_progress* stats = git_remote_stats(remote.get());
  out.log += "fetched " + spec.url + " (" + std::to_string(stats->received_objects) + " objects, " +
             std::to_string(stats->received_bytes) + " bytes)\n";
  // The remote's HEAD, as it advertised it during the fetch.
  std::string head;
  const git_remote_head** heads = nullptr;
  size_t nheads = 0;
  if (git_remote_ls(&heads, &nheads, remote.get()) == 0) {
    for (size_t i = 0; i < nheads; ++i) {
      if (std::string_view(heads[i]->name) == "HEAD") head = OidText(&heads[i]->oid);
    }
  }
  OFN_ASSIGN_OR_RETURN(out.commit, ResolveRevision(repo.get(), spec.revision, head));
  git_oid oid;
  git_oid_fromstr(&oid, out.commit.c_str());
  git_commit* c = nullptr;
  if (git_commit_lookup(&c, repo.get(), &oid) != 0) return Status(StatusCode::kInternal, GitError(out.commit));
  git_tree* t = nullptr;
  int tree_rc = git_commit_tree(&t, c);
  git_commit_free(c);
  if (tree_rc != 0) return Status(StatusCode::kInternal, GitError(out.commit));
  Tree root(t);
  Tree sub_tree;
  const git_tree* tree = root.get();
  std::string sub = CleanSubPath(spec.sub_path);
  if (!sub.empty()) {
    git_tree_entry* e = nullptr;
    if (git_tree_entry_bypath(&e, root.get(), sub.c_str()) != 0) {
      return Status(StatusCode::kNotFound, "spec.build.srcRepo.sourceSubPath: \"" + spec.sub_path +
                                               "\" is not in commit " + out.commit.substr(0, 12));
    }
    TreeEntry entry(e);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      return Status(StatusCode::kInvalidArgument,
                    "spec.build.srcRepo.sourceSubPath: \"" + spec.sub_path + "\" is a file, not a directory");
    }
    git_tree* st = nullptr;
    if (git_tree_lookup(&st, repo.get(), git_tree_entry_id(entry.get())) != 0) {
      return Status(StatusCode::kInternal, GitError(sub));
    }
    sub_tree.reset(st);
    tree = sub_tree.get();
  }
  fs::create_directories(dest_dir, ec);
  if (ec) return Status(StatusCode::kInternal, "mkdir " + dest_dir + ": " + ec.message());
  OFN_RETURN_IF_ERROR(WriteTree(repo.get(), tree, dest_dir, &out.log));
  out.log += "checked out " + out.commit + (sub.empty() ? "" : " (" + sub + ")") + "\n";
  return out;
}

Result<std::string> RemoteCommit(const SourceSpec& spec) {
  InitGit();
  if (!IsUrl(spec.url) || spec.url.rfind("file://", 0) == 0) {
    std::string path = spec.url.rfind("file://", 0) == 0 ? spec.url.substr(7) : spec.url;
    git_repository* probe = nullptr;
    if (git_repository_open_ext(&probe, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
      // A plain directory: its digest is its "commit".
      char tmpl[] = "/tmp/ofn-src-XXXXXX";
      if (!::mkdtemp(tmpl)) return Status(StatusCode::kInternal, "mkdtemp failed");
      auto copied = CopyDirectory(spec, std::string(tmpl) + "/src");
      std::error_code ec;
      fs::remove_all(tmpl, ec);
      if (!copied.ok()) return copied.status();
      return copied->commit;
    }
    git_repository_free(probe);
  }
  git_remote* rm = nullptr;
  if (git_remote_create_detached(&rm, spec.url.c_str()) != 0) {
    return Status(StatusCode::kInvalidArgument, GitError("spec.build.srcRepo.url " + spec.url));
  }
  Remote remote(rm);
  AuthState auth{&spec, 0, false, ""};
  OFN_ASSIGN_OR_RETURN(auto refs, ListRemote(remote.get(), &auth, spec.url));
  std::string found;
  const std::string& rev = spec.revision;
  for (const auto& [name, oid] : refs) {
    if (rev.empty() && name == "HEAD") found = oid;
    if (!rev.empty() && name == "refs/heads/" + rev) found = oid;
    // A tag: its peeled commit ("^{}") wins over the tag object.
    if (!rev.empty() && name == "refs/tags/" + rev && found.empty()) found = oid;
    if (!rev.empty() && name == "refs/tags/" + rev + "^{}") found = oid;
  }
  if (!found.empty()) return found;
  // A commit id names itself.
  if (rev.size() == GIT_OID_HEXSZ && rev.find_first_not_of("0123456789abcdef") == std::string::npos) return rev;
  return Status(StatusCode::kNotFound,
                "spec.build.srcRepo.revision: \"" + rev + "\" is no branch or tag of " + spec.url);
}

}  // namespace ofn::build
