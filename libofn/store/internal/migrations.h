#ifndef LIBOFN_STORE_INTERNAL_MIGRATIONS_H_
#define LIBOFN_STORE_INTERNAL_MIGRATIONS_H_

#include <string_view>
#include <vector>

namespace ofn::store::internal {

// SQL of each migration; index i brings user_version i to i+1.
const std::vector<std::string_view>& Migrations();

}  // namespace ofn::store::internal

#endif  // LIBOFN_STORE_INTERNAL_MIGRATIONS_H_
