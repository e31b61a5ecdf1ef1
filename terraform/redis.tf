# Valkey (Redis-compatible) for the dramatiq queue, server-side sessions, rate limits and
# lockout counters. Cluster mode disabled (dramatiq's Lua scripts need one keyspace), one
# primary and one replica in the other AZ with automatic failover. TLS in transit (rediss://),
# KMS at rest, AUTH token from Secrets Manager.

resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

# Never evict: the store holds queued jobs, sessions and lockout counters. Evicting a lockout
# counter under memory pressure would quietly lift a lock, so writes must fail loudly instead.
resource "aws_elasticache_parameter_group" "main" {
  name   = "${local.name}-valkey${split(".", var.valkey_version)[0]}"
  family = "valkey${split(".", var.valkey_version)[0]}"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

# The AUTH token (letters and digits only: ElastiCache refuses some symbols, and it goes into
# REDIS_URL unescaped).
resource "random_password" "redis_auth" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "redis_auth_token" {
  #checkov:skip=CKV2_AWS_57:rotation is an operator runbook (auth_token_update_strategy ROTATE, README.md)
  name                    = "${local.name}/redis-auth-token"
  description             = "AUTH token of the Similia Valkey replication group"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "redis_auth_token" {
  secret_id     = aws_secretsmanager_secret.redis_auth_token.id
  secret_string = random_password.redis_auth.result
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = "${local.name}-valkey"
  description          = "Similia queue, sessions, rate limits"
  engine               = "valkey"
  engine_version       = var.valkey_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.main.name

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = aws_secretsmanager_secret_version.redis_auth_token.secret_string
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = 7
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade = true

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis_slow.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }
}
