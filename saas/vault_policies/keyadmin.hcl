# Policy "similia-keyadmin": the token used for tenant key lifecycle.
#
# Signup creates the clinic's transit key and its first wrapped data key; rotation rotates
# the key, rewraps stored data keys and raises min_decryption_version. encrypt/decrypt are
# granted for rewrap checks; datakey because signup creates the first wrapped data key.
# It can NOT destroy a key: no "delete", and "deletion_allowed" is denied on the config
# endpoint. Crypto-shredding needs the separate "similia-shredder" token (shredder.hcl),
# which only the operator's tooling holds, so a compromised web process cannot shred clinics.
#
# Vault path syntax: "*" is a prefix glob and only valid at the end; "+" is one path segment.
# "transit/keys/+" therefore matches a key but not its /config or /rotate sub-paths, which
# get their own rules below. The transit mount holds only clinic keys (tenant-<uuid>).

path "transit/keys/+" {
  capabilities = ["create", "update", "read"]
}

path "transit/keys/+/rotate" {
  capabilities = ["update"]
}

path "transit/keys/+/config" {
  capabilities = ["update"]
  denied_parameters = {
    "deletion_allowed" = []
  }
}

path "transit/rewrap/tenant-*" {
  capabilities = ["update"]
}

path "transit/datakey/wrapped/tenant-*" {
  capabilities = ["update"]
}

path "transit/decrypt/tenant-*" {
  capabilities = ["update"]
}

path "transit/encrypt/tenant-*" {
  capabilities = ["update"]
}
