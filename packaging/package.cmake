# Install rules and CPack's .deb (scripts/package): the binaries, the conffile, the unit, man page, docs.
# `install` never builds the whole tree (tests, benches): scripts/package builds only what is packaged.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
include(GNUInstallDirs)

install(TARGETS pgfunnel RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET pgfunnel-bench)
  install(TARGETS pgfunnel-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# Absolute, not under the prefix: dpkg keeps the admin's edits to it (packaging/debian/conffiles).
install(FILES ${PROJECT_SOURCE_DIR}/config/pgfunnel.yaml DESTINATION /etc/pgfunnel)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/pgfunnel.service DESTINATION lib/systemd/system)

# The man page is --help as help2man lays it out, so it cannot drift from the binary; Debian wants
# it, the changelog and the copyright compressed with no timestamp (-n) for reproducible packages.
set(PGFUNNEL_PKG_DIR ${PROJECT_BINARY_DIR}/packaging)
add_custom_command(OUTPUT ${PGFUNNEL_PKG_DIR}/pgfunnel.1.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PGFUNNEL_PKG_DIR}
  COMMAND help2man --no-info --section=1 --name "PostgreSQL connection pooler"
          --output=${PGFUNNEL_PKG_DIR}/pgfunnel.1 $<TARGET_FILE:pgfunnel>
  COMMAND gzip -n -9 -f ${PGFUNNEL_PKG_DIR}/pgfunnel.1
  DEPENDS pgfunnel VERBATIM)
add_custom_command(OUTPUT ${PGFUNNEL_PKG_DIR}/changelog.Debian.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PGFUNNEL_PKG_DIR}
  COMMAND sh -c "gzip -n -9 -c '${PROJECT_SOURCE_DIR}/packaging/debian/changelog' > '${PGFUNNEL_PKG_DIR}/changelog.Debian.gz'"
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog VERBATIM)
add_custom_target(package-files DEPENDS ${PGFUNNEL_PKG_DIR}/pgfunnel.1.gz ${PGFUNNEL_PKG_DIR}/changelog.Debian.gz)
install(FILES ${PGFUNNEL_PKG_DIR}/pgfunnel.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PGFUNNEL_PKG_DIR}/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pgfunnel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "pgfunnel authors <pgfunnel@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL connection pooler for serverless apps")
set(CPACK_PACKAGE_DESCRIPTION "pgfunnel pools PostgreSQL server connections for many short-lived
clients: a transaction-pooling listener, a session-passthrough listener for
migrations, and /metrics, /healthz and /readyz over HTTP.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
# Depends from the libraries the binaries link (dpkg-shlibdeps), so it matches the build machine.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/deb)
include(CPack)
