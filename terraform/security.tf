# Encryption key, security groups and the WAF.

# ---------------------------------------------------------------------------------------------
# One customer-managed KMS key (rotated yearly) encrypts RDS, ElastiCache, Secrets Manager,
# CloudWatch Logs and ECR. Services use it through IAM (the account statement); CloudWatch
# Logs needs its own statement because it calls KMS as a service principal.
# ---------------------------------------------------------------------------------------------

resource "aws_kms_key" "main" {
  description             = "${local.name}: data at rest (RDS, ElastiCache, Secrets Manager, logs, ECR)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:key policy: the account root statement delegates access to IAM (AWS default)
  #checkov:skip=CKV_AWS_111:key policy: the account root statement delegates access to IAM (AWS default)
  #checkov:skip=CKV_AWS_356:in a key policy the resource "*" means this key only
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Security groups. Rules are separate resources (no inline rules) so the app and data groups
# can reference each other without a dependency cycle.
#
#   internet --443/80--> alb --8000--> web
#   web, worker, scheduler, migrate --5432--> postgres
#   web, worker, scheduler          --6379--> valkey
# ---------------------------------------------------------------------------------------------

locals {
  # Tasks that talk to Redis and Vault (the services and the daily purge); the migrate task
  # only needs Postgres.
  runtime_tasks = ["web", "worker", "scheduler", "purge"]
  app_tasks     = ["web", "worker", "scheduler", "purge", "migrate"]
}

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Public load balancer: HTTPS (and HTTP, which only redirects) from anywhere"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-alb" }
}

resource "aws_security_group" "task" {
  #checkov:skip=CKV2_AWS_5:the migrate and purge groups are attached by run-task (output migrate_run_task_command) and the purge schedule
  for_each    = toset(local.app_tasks)
  name        = "${local.name}-${each.key}"
  description = "ECS ${each.key} tasks"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-${each.key}" }
}

resource "aws_security_group" "db" {
  name        = "${local.name}-postgres"
  description = "RDS PostgreSQL: only from the app task security groups"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-postgres" }
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-valkey"
  description = "ElastiCache Valkey: only from the runtime task security groups"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-valkey" }
}

# --- ALB ---------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:port 80 only answers with a 301 to HTTPS (aws_lb_listener.http)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere (answered with a redirect to HTTPS)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_web" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the web tasks (gunicorn)"
  referenced_security_group_id = aws_security_group.task["web"].id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

# --- app tasks ---------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "web_from_alb" {
  security_group_id            = aws_security_group.task["web"].id
  description                  = "gunicorn, from the ALB only"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  for_each          = toset(local.app_tasks)
  security_group_id = aws_security_group.task[each.key].id
  description       = "HTTPS via NAT: ECR, Secrets Manager, CloudWatch Logs, Stripe"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "task_vault" {
  for_each          = var.vault_port == 443 ? toset([]) : toset(local.runtime_tasks)
  security_group_id = aws_security_group.task[each.key].id
  description       = "Vault/OpenBao transit (VAULT_ADDR)"
  cidr_ipv4         = var.vault_egress_cidr
  ip_protocol       = "tcp"
  from_port         = var.vault_port
  to_port           = var.vault_port
}

resource "aws_vpc_security_group_egress_rule" "task_smtp" {
  for_each          = var.smtp_port == 443 ? toset([]) : toset(local.runtime_tasks)
  security_group_id = aws_security_group.task[each.key].id
  description       = "SMTP relay (SMTP_URL)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = var.smtp_port
  to_port           = var.smtp_port
}

resource "aws_vpc_security_group_egress_rule" "task_to_db" {
  for_each                     = toset(local.app_tasks)
  security_group_id            = aws_security_group.task[each.key].id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "task_to_redis" {
  for_each                     = toset(local.runtime_tasks)
  security_group_id            = aws_security_group.task[each.key].id
  description                  = "Valkey (TLS)"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

# --- data stores: ingress only from the app task groups, never from a CIDR ----------------------

resource "aws_vpc_security_group_ingress_rule" "db_from_task" {
  for_each                     = toset(local.app_tasks)
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key} tasks"
  referenced_security_group_id = aws_security_group.task[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_task" {
  for_each                     = toset(local.runtime_tasks)
  security_group_id            = aws_security_group.redis.id
  description                  = "Valkey from ${each.key} tasks"
  referenced_security_group_id = aws_security_group.task[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

# ---------------------------------------------------------------------------------------------
# WAF on the ALB: per-IP rate limit first, then the AWS managed common and known-bad-inputs
# rule groups. Logs go to CloudWatch (logging.tf) with credentials redacted.
# ---------------------------------------------------------------------------------------------

resource "aws_wafv2_web_acl" "main" {
  name        = local.name
  description = "Similia ALB: rate limit and AWS managed rules"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.name
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.main.arn
  web_acl_arn  = aws_wafv2_web_acl.main.arn
}
