# Policy "similia-shredder": crypto-shredding only (clinic deletion, failed-signup cleanup).
#
# Held by the operator's tooling (`saas tenants delete`), not by the web app in production.
# It can mark a clinic's transit key deletable and delete it; nothing else. ("+" is one path
# segment; see keyadmin.hcl.)

path "transit/keys/+" {
  capabilities = ["read", "delete"]
}

path "transit/keys/+/config" {
  capabilities = ["update"]
  allowed_parameters = {
    "deletion_allowed" = []
  }
}
