// Boost.Asio's compiled part, built once here (BOOST_ASIO_SEPARATE_COMPILATION) instead of in every TU.
#include <boost/asio/impl/src.hpp>
