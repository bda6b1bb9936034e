# Install rules and the Debian package (CPack, DEB generator).
#
#   cmake --install build --prefix /opt/troupe     bin/troupe-node, bin/troupe,
#       libexec/troupe/troupe-job-shim (the process backend's job reaper),
#       etc/troupe/troupe.toml (the example /etc/troupe/troupe.toml),
#       lib/systemd/system/troupe.service, share/doc/troupe/{README.md,full.toml}
#   scripts/package.sh build [OUT_DIR]             troupe_<version>_<arch>.deb
#
# With the prefix /usr (the .deb) the config goes to /etc/troupe/troupe.toml, a
# conffile; the unit's ExecStart and config paths follow the prefix the install
# runs with (cmake/packaging/install_system_files.cmake, run at install time).
include(GNUInstallDirs)

install(TARGETS troupe-node troupe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The process backend's per-job reaper (runtime/exec/spawn.hpp); troupe-node
# finds it at <prefix>/libexec/troupe/ relative to its own bin/ directory.
install(TARGETS troupe-job-shim RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/troupe)
install(FILES README.md config/examples/full.toml DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "set(TROUPE_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(TROUPE_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
include(\"${PROJECT_SOURCE_DIR}/cmake/packaging/install_system_files.cmake\")")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME troupe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "troupe")
set(CPACK_PACKAGE_CONTACT "troupe maintainers <troupe@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fault-tolerant job scheduler (Raft, gRPC, Docker)")
set(CPACK_PACKAGE_DESCRIPTION "A cluster of troupe nodes agrees through Raft on a replicated log of jobs;
users submit shell commands over gRPC, REST or the troupe CLI, and each job
runs in a Docker container or a plain process on a live node. This package
holds troupe-node (the server) with its job shim, the troupe CLI and the
troupe systemd unit.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)            # runtime libraries from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")       # postinst creates the troupe system user
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "docker.io")    # the Docker executor backend
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/cmake/packaging/conffiles"
    "${PROJECT_SOURCE_DIR}/cmake/packaging/postinst")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
