// drshym: the command-line front-end. All logic lives in the cli module.
#include "cli/app.hpp"

int main(int argc, char** argv) { return drshym::cli::run(argc, argv); }
