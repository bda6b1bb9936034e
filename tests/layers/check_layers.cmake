# The layering rule (node -> gateway -> service -> actors -> runtime, transport
# beneath actors), checked on #include lines and on the CMake link interface:
#   service/    includes nothing from gateway/ or node/
#   gateway/    includes nothing from node/
#   actors/, runtime/, transport/, protocol/  include nothing from gateway/
#   runtime/    includes nothing from actors/, transport/, gateway/, service/
#   actors/     includes nothing from gateway/ or service/
#   transport/  includes nothing from actors/ or service/ (it sees actors only
#               through the inbox handles of transport/interface.hpp)
#   troupe_actors and troupe_transport* do not link troupe_gateway; transport
#   does not link troupe_actors.
# Run by ctest (label "layers") with -DROOT=<source dir> and the link lists.
cmake_minimum_required(VERSION 3.25)

set(failures "")

function(forbid dir pattern)
  file(GLOB_RECURSE files "${ROOT}/${dir}/*.hpp" "${ROOT}/${dir}/*.cpp" "${ROOT}/${dir}/*.h" "${ROOT}/${dir}/*.cc")
  foreach(f ${files})
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<](${pattern})/")
    foreach(l ${lines})
      file(RELATIVE_PATH rel "${ROOT}" "${f}")
      string(STRIP "${l}" l)
      list(APPEND failures "${rel}: ${l}")
    endforeach()
  endforeach()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()

forbid(service "gateway|node")
forbid(gateway "node")
forbid(actors "gateway|service|node")
forbid(runtime "actors|transport|gateway|service|node")
forbid(transport "gateway|actors|service|node")
forbid(protocol "gateway|actors|transport|service|node")

function(forbid_link target links forbidden)
  foreach(lib ${forbidden})
    if("${lib}" IN_LIST links)
      list(APPEND failures "${target} links ${lib}")
    endif()
  endforeach()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()

forbid_link(troupe_service "${SERVICE_LINKS}" "troupe_gateway;troupe_bootstrap")
forbid_link(troupe_actors "${ACTORS_LINKS}" "troupe_gateway;troupe_service;troupe_transport;troupe_bootstrap")
forbid_link(troupe_transport "${TRANSPORT_LINKS}" "troupe_gateway;troupe_actors;troupe_bootstrap")
forbid_link(troupe_transport_api "${TRANSPORT_API_LINKS}" "troupe_gateway;troupe_actors;troupe_bootstrap")

if(failures)
  list(JOIN failures "\n  " msg)
  message(FATAL_ERROR "layering violations:\n  ${msg}")
endif()
message(STATUS "layers: ok")
