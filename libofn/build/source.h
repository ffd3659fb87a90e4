// Sources of builds: a git repository (fetched with libgit2 into a cache
// kept per repository, then the wanted commit's tree written out), or a
// plain local directory (copied). Thread-compatible: one fetch per cache
// directory at a time (the Builder runs one build at a time).
#ifndef LIBOFN_BUILD_SOURCE_H_
#define LIBOFN_BUILD_SOURCE_H_

#include <string>
#include <utility>
#include <vector>

#include "libofn/common/status.h"

namespace ofn::build {

struct SourceSpec {
  std::string url;       // spec.build.srcRepo.url: a URL, a path or file:// URL
  std::string revision;  // branch, tag or commit; "" = the remote's HEAD
  std::string sub_path;  // sourceSubPath ("" or "/" = the whole tree)
  // Credentials (srcRepo.credentials): basic auth, or an SSH private key
  // (PEM text) with its user.
  std::string username, password;
  std::string ssh_private_key, ssh_passphrase;
  // ssh://: the known_hosts text the server's host key must be in (plain or
  // hashed host names, "[host]:port" for other ports than 22). An unknown
  // or different key ends the fetch, as git's StrictHostKeyChecking does.
  std::string known_hosts;
};

// Whether `known_hosts` (its text) lists `key_type`/`key_base64` for
// `host` at `port`.
bool KnownHost(const std::string& known_hosts, const std::string& host, int port, const std::string& key_type,
               const std::string& key_base64);

// url.<base>.insteadOf: the longest `from` prefix of `url` is replaced by
// its `to`.
std::string ApplyMirrors(const std::string& url, const std::vector<std::pair<std::string, std::string>>& mirrors);

// Credentials for `url` from a git credentials file's text (lines
// "scheme://user:password@host[/path]"; the first whose scheme and host
// match, and whose path, if any, is a prefix of the URL's). False when none.
bool CredentialsFromFile(const std::string& file_text, const std::string& url, std::string* username,
                         std::string* password);

struct FetchedSource {
  std::string url;     // what was fetched (after mirrors)
  std::string commit;  // the resolved commit; for a plain directory "dir:" + a digest of its files
  std::string log;     // what was done, one line per step
};

// Fetches `spec` into `cache_dir` (a bare repository per URL under it) and
// writes the commit's tree (its sourceSubPath) into `dest_dir`, which must
// not exist. NotFound names the revision or sub-path that is missing;
// PermissionDenied says the remote refused the credentials.
Result<FetchedSource> FetchSource(const SourceSpec& spec, const std::string& cache_dir, const std::string& dest_dir);

// The commit `revision` names on the remote now, without fetching (the
// revision controller's poll): ls-remote.
Result<std::string> RemoteCommit(const SourceSpec& spec);

}  // namespace ofn::build

#endif  // LIBOFN_BUILD_SOURCE_H_
