#pragma once
// URIs users give us → paths GDAL understands.
//   /a/b.tif, a/b.tif, file:///a/b.tif  → /a/b.tif   (file://localhost/a%20b.tif → /a b.tif;
//                                          a file URI naming another host is refused)
//   http(s)://host/x.tif                → /vsicurl/http(s)://host/x.tif
//   s3://bucket/key.tif                 → /vsis3/bucket/key.tif
//   gs://bucket/key.tif                 → /vsigs/bucket/key.tif
//   /vsi...                             → unchanged
#include <string>

namespace drshym::io {

std::string to_gdal_path(const std::string& uri);

// True when the URI names a local file (plain path or file://).
bool is_local(const std::string& uri);

// file:// URI of a local path (absolute), percent-encoded: to_gdal_path gives the path back.
std::string to_file_uri(const std::string& path);

// The scene id of a URI: the file name without directories and extension.
std::string stem_of(const std::string& uri);

}  // namespace drshym::io
