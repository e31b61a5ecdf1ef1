# Policy "similia-keyadmin": the token used for tenant key lifecycle.
#
# Signup creates the clinic's transit key and its first wrapped data key; rotation rotates
# the key and rewraps stored data keys; clinic deletion allows deletion and deletes the key
# (crypto-shredding). encrypt/decrypt/datakey are granted because signup also creates the
# clinic's first wrapped data key with this token.
# Note: in Vault policies a trailing "*" is a prefix match and also matches "/".

path "transit/keys/tenant-*" {
  capabilities = ["create", "update", "read", "delete"]
}

path "transit/keys/tenant-*/rotate" {
  capabilities = ["update"]
}

path "transit/keys/tenant-*/config" {
  capabilities = ["update"]
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
