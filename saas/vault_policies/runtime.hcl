# Policy "similia-runtime": the token the web app and the workers use.
#
# It can use the per-clinic transit keys (tenant-<uuid>) to seal and open data keys and
# fields, and read key metadata (latest version, min_decryption_version). It cannot create,
# configure, rotate or delete keys; that is the key-admin token's job (keyadmin.hcl).
# Note: in Vault policies a trailing "*" is a prefix match and also matches "/".

path "transit/encrypt/tenant-*" {
  capabilities = ["update"]
}

path "transit/decrypt/tenant-*" {
  capabilities = ["update"]
}

path "transit/datakey/wrapped/tenant-*" {
  capabilities = ["update"]
}

path "transit/rewrap/tenant-*" {
  capabilities = ["update"]
}

path "transit/keys/tenant-*" {
  capabilities = ["read"]
}

# Unauthenticated anyway; listed so the intent (health checks only) is explicit.
path "sys/health" {
  capabilities = ["read"]
}
