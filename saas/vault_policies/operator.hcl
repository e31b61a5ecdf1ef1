# Policy "similia-operator": the token the operator console (/ops) holds.
#
# Operators run the platform and never read clinical data, so this token can use NO clinic
# key: no transit encrypt, decrypt, datakey, rewrap or key read on tenant-<uuid>. A request
# the console makes to open a clinic's field is refused by Vault itself (the blindness test
# proves it). It may only read Vault's health, for /ops/health.

path "sys/health" {
  capabilities = ["read"]
}
