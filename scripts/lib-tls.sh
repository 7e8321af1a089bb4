# lib-tls.sh - what the benchmark scripts that serve HTTPS share; sourced
# (". scripts/lib-tls.sh" from the repository's root), never run:
#
#   bench_tls_pki DIR        a PKI made for the run, with openssl: DIR/ca.pem
#                            (a self-signed CA, EC P-256, 2 days) and
#                            DIR/server.pem, DIR/server.key (EC P-256,
#                            CN and SAN localhost, SAN IP 127.0.0.1, signed
#                            by the CA); clients verify against ca.pem
#   bench_tls_nginx CERT KEY the lines of an nginx server block serving
#                            TLS 1.2 and 1.3 with CERT and KEY (session
#                            tickets, 16 KiB records), on stdout
#
# The Go tests make theirs in Go (internal/tlstest/pki.go); a shell
# script has only openssl.

bench_tls_pki() {
  (
    cd "$1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
      -days 2 -subj /CN=bench-CA 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
      -subj /CN=localhost 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
      -days 2 -extfile ext 2>/dev/null
  )
}

bench_tls_nginx() {
  cat <<NGX
    ssl_certificate $1;
    ssl_certificate_key $2;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_session_tickets on;
    ssl_session_cache builtin;
    ssl_buffer_size 16k;
NGX
}
