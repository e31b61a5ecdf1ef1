# Secrets Manager holds every secret the app reads (README "Configuration"). ECS injects them
# into the containers at start (task definition "secrets"), so no value ever appears in a task
# definition, an image or this code. All are encrypted with the KMS key.
#
# Generated here (values live in the encrypted remote state, see versions.tf):
#   SECRET_KEY, DATABASE_URL, APP_DATABASE_URL, OPS_DATABASE_URL (the operator console's
#   role similia_ops: no SELECT on clinical tables), OPS_DATABASE_PASSWORD (its password, set
#   by the migration task's ALTER ROLE), REDIS_URL, METRICS_TOKEN (the bearer token
#   Prometheus sends to /metrics)
# Put by an operator after the first apply (README.md), never through Terraform:
#   VAULT_TOKEN, VAULT_ADMIN_TOKEN, VAULT_OPERATOR_TOKEN (the operator console's token, policy
#   operator.hcl: no transit path; see vault.md), VAULT_SHREDDER_TOKEN (policy shredder.hcl,
#   only for the daily purge task), SMTP_URL (the mail provider's credentials),
#   STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_CONNECT_WEBHOOK_SECRET (the Stripe
#   dashboard's live key and the two webhook endpoints' signing secrets), SMS_ACCOUNT_SID and
#   SMS_AUTH_TOKEN (the SMS provider's account; a placeholder while SMS_PROVIDER is "off")

locals {
  generated_secret_names = [
    "SECRET_KEY", "DATABASE_URL", "APP_DATABASE_URL", "OPS_DATABASE_URL", "OPS_DATABASE_PASSWORD",
    "REDIS_URL", "METRICS_TOKEN",
  ]
  operator_secret_names = [
    "VAULT_TOKEN", "VAULT_ADMIN_TOKEN", "VAULT_OPERATOR_TOKEN", "VAULT_SHREDDER_TOKEN", "SMTP_URL",
    "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET",
    "SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN",
  ]

  generated_secret_values = {
    SECRET_KEY       = random_password.secret_key.result
    DATABASE_URL     = "postgresql+psycopg://${local.db_master_username}:${random_password.db_master.result}@${local.db_url_base}"
    APP_DATABASE_URL = "postgresql+psycopg://similia_app:${random_password.db_app.result}@${local.db_url_base}"
    OPS_DATABASE_URL = "postgresql+psycopg://similia_ops:${random_password.db_ops.result}@${local.db_url_base}"
    OPS_DATABASE_PASSWORD = random_password.db_ops.result
    METRICS_TOKEN    = random_password.metrics_token.result
    REDIS_URL        = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0"
  }
}

resource "random_password" "metrics_token" {
  length  = 48
  special = false
}

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:rotation is an operator runbook (README.md); a rotation Lambda must also re-run the ALTER ROLE step
  for_each                = toset(concat(local.generated_secret_names, local.operator_secret_names))
  name                    = "${local.name}/${each.key}"
  description             = "Similia ${each.key} (injected into ECS tasks as an environment variable)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "generated" {
  for_each      = toset(local.generated_secret_names)
  secret_id     = aws_secretsmanager_secret.app[each.key].id
  secret_string = local.generated_secret_values[each.key]
}
