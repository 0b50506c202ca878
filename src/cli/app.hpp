#pragma once
// Entry point of the drshym binary: parse arguments, dispatch to a subcommand, map errors to
// exit codes (0 success, 1 runtime error, 2 usage error).
namespace drshym::cli {
int run(int argc, char** argv);
}
