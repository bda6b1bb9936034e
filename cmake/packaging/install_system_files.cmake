# Run by `cmake --install` and CPack (install(CODE) in cmake/Packaging.cmake):
# installs the example config and the systemd unit for the prefix in use.
# TROUPE_SOURCE_DIR and TROUPE_BINARY_DIR are set by the caller.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_troupe_etc "/etc")           # Debian: /etc/troupe/troupe.toml, a conffile of the .deb
else()
  set(_troupe_etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(_troupe_conf "${_troupe_etc}/troupe/troupe.toml")

# The config: an edited one is never overwritten by a plain install (dpkg
# handles its conffile itself; CPack installs into an empty staging dir).
if(EXISTS "$ENV{DESTDIR}${_troupe_conf}")
  message(STATUS "Keeping: $ENV{DESTDIR}${_troupe_conf}")
else()
  file(INSTALL "${TROUPE_SOURCE_DIR}/deploy/systemd/troupe.toml" DESTINATION "${_troupe_etc}/troupe"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()

# The unit, with the installed paths of the binary, the config and the docs.
file(READ "${TROUPE_SOURCE_DIR}/deploy/systemd/troupe.service" _troupe_unit)
string(REPLACE "/usr/bin/troupe-node" "${CMAKE_INSTALL_PREFIX}/bin/troupe-node" _troupe_unit "${_troupe_unit}")
string(REPLACE "/etc/troupe/troupe.toml" "${_troupe_conf}" _troupe_unit "${_troupe_unit}")
string(REPLACE "/usr/share/doc/troupe/" "${CMAKE_INSTALL_PREFIX}/share/doc/troupe/" _troupe_unit "${_troupe_unit}")
# One staging file per destination: installs into different prefixes may run at once.
string(MD5 _troupe_key "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(_troupe_staged "${TROUPE_BINARY_DIR}/packaging/troupe.service.${_troupe_key}")
file(WRITE "${_troupe_staged}" "${_troupe_unit}")
file(INSTALL "${_troupe_staged}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" RENAME troupe.service
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(REMOVE "${_troupe_staged}")
