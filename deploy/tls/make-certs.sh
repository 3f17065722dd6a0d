#!/bin/sh
# Makes the platform's private CA and every certificate deploy/ uses (deploy/README.md, "TLS"):
#
#   sh deploy/tls/make-certs.sh [DIR] [GATEWAY-NAME] [COUNTY …]
#
#   DIR           where to write (default: the directory of this script, deploy/tls/, which
#                 compose.yaml mounts; git ignores everything in it but this script)
#   GATEWAY-NAME  the name browsers use for nginx (default swp.example.gov.cn)
#   COUNTY …      county codes with a subscriber (default: those of deploy/nats/accounts.conf)
#
# Writes ca.crt/ca.key (keep ca.key offline once done), nats.crt/.key (every NATS node: client
# port and routes; names nats, nats-1…3 for compose and nats-0…2.nats-headless for Kubernetes),
# registry/services-log/evaluation/finance/admin .crt/.key (the services' and operators' NATS
# client certificates), sub-<county>.crt/.key (each county's subscriber) and gateway.crt/.key
# (nginx; a certificate from the province's public CA is better for browsers). EC P-256, SHA-256;
# the CA 10 years, the others 2 years. Existing files are never overwritten.
set -eu
DIR=${1:-$(dirname "$0")}
GATEWAY=${2:-swp.example.gov.cn}
[ $# -gt 2 ] && shift 2 || set --
COUNTIES=${*:-$(sed -n 's/^ *user: sub-\([0-9]\{6\}\)$/\1/p' "$(dirname "$0")/../nats/accounts.conf")}
mkdir -p "$DIR"
cd "$DIR"
umask 077

if [ ! -e ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes -days 3650 \
    -subj "/O=SWP/CN=SWP platform CA" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# issue NAME SUBJECT-ALT-NAMES: NAME.crt / NAME.key signed by the CA, for TLS servers and clients.
issue() {
  [ -e "$1.crt" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes -subj "/O=SWP/CN=$1" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 730 -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
  chmod 644 "$1.crt"
}

issue nats "DNS:nats,DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:nats-0.nats-headless,DNS:nats-1.nats-headless,DNS:nats-2.nats-headless,DNS:localhost,IP:127.0.0.1"
for user in registry services-log evaluation finance admin; do
  issue "$user" "DNS:$user"
done
for county in $COUNTIES; do
  issue "sub-$county" "DNS:sub-$county"
done
issue gateway "DNS:$GATEWAY,DNS:localhost,IP:127.0.0.1"
chmod 644 ca.crt
echo "certificates in $DIR: $(ls *.crt | tr '\n' ' ')"
