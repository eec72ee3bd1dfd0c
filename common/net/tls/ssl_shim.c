/*
 * ssl_shim.c - makes Debian's CivetWeb 1.15 TLS work with OpenSSL 3.
 *
 * Debian builds CivetWeb for the OpenSSL 1.1 API: it dlopen()s "libssl.so"
 * and looks up SSL_get_peer_certificate, which OpenSSL 3 only has as a
 * macro, so the first HTTPS connection calls NULL (upstream issue #1334;
 * shared/notes/dependencies.md).  Each server executable carries this
 * wrapper, is linked with soname "libssl.so" and exports the symbol, so
 * CivetWeb's dlopen() returns the executable and dlsym() finds it here;
 * every other SSL_* symbol resolves to libssl.so.3.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

X509 *
SSL_get_peer_certificate(const SSL *s)
{
	return SSL_get1_peer_certificate(s);
}
