// Fetching a known data set from the CLI with a progress bar (tools/cmd_data.cpp), shared by
// `landcover data fetch` and `landcover train --data eurosat`.
// Depends on: model/fetch.h, tools/progress.h.
#pragma once

#include <string>

#include "model/fetch.h"

namespace lc::tools {

// Fetches `name` (model/fetch.h's fetch_dataset) with a download bar and a decode-check bar on
// stderr; an unreachable server becomes a one-line error saying how to fetch from a file.
FetchResult fetch_with_progress(const std::string& name, const FetchOptions& options);

// The folder of the fetched copy of `name` in the user cache, fetching it first when missing.
std::string fetched_dataset_dir(const std::string& name);

}  // namespace lc::tools
