// Removing or emptying a job's working directory safely. Its own file
// because both the node and the job shim (a separate executable that empties
// the directory when the node died) use it.
#pragma once

#include <string>

namespace troupe::exec {

// Removes `path` and everything below it without following symbolic links
// (each level is opened with O_NOFOLLOW relative to its parent), so a job
// cannot make the node delete anything outside its own directory. Very deep
// trees are flattened as they are removed, so depth cannot exhaust the node's
// file descriptors. No error when `path` does not exist. Throws
// std::runtime_error naming what could not be removed.
void remove_tree(const std::string& path);

// Removes everything inside the directory open as `dir_fd`, with the same
// care as remove_tree, and keeps the directory itself (a reused job slot:
// emptying it deletes only what the job made). `where` names it in errors.
// Throws std::runtime_error.
void empty_tree(int dir_fd, const std::string& where);

}  // namespace troupe::exec
