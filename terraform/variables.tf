# Inputs. Nothing secret has a default (or is an input at all): passwords and tokens are
# generated into, or put by an operator into, AWS Secrets Manager. See README.md.

variable "region" {
  description = "AWS region for every resource (the ACM certificate must be in the ALB's region)."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Environment name used in resource names and tags, e.g. prod or staging."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment: lowercase letters, digits and dashes, 2-16 characters."
  }
}

variable "base_domain" {
  description = "SAAS_BASE_DOMAIN: the bare domain is the platform, clinics live at <slug>.<base_domain>. A public Route53 hosted zone for it must exist."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.base_domain))
    error_message = "base_domain must be a lowercase DNS name such as similia.example."
  }
}

variable "image_tag" {
  description = "Tag of the application image in the ECR repository (immutable tags: use the git SHA)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into 2 public and 2 private /20 subnets."
  type        = string
  default     = "10.40.0.0/16"
}

variable "postgres_version" {
  description = "PostgreSQL major version for RDS (16 or later; the parameter group family follows it)."
  type        = string
  default     = "17"

  validation {
    condition     = try(tonumber(var.postgres_version) >= 16, false)
    error_message = "postgres_version must be a major version, 16 or later."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the Multi-AZ primary."
  type        = string
  default     = "db.m7g.large"
}

variable "db_replica_instance_class" {
  description = "RDS instance class of the read replica."
  type        = string
  default     = "db.m7g.large"
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB (gp3)."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage" {
  description = "Upper bound in GiB for RDS storage autoscaling."
  type        = number
  default     = 1000
}

variable "valkey_version" {
  description = "ElastiCache Valkey engine version (the parameter group family follows the major version)."
  type        = string
  default     = "8.0"
}

variable "redis_node_type" {
  description = "ElastiCache node type (one primary and one replica in another AZ)."
  type        = string
  default     = "cache.m7g.large"
}

variable "web_cpu" {
  description = "Fargate CPU units of one web task (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "web_memory" {
  description = "Fargate memory (MiB) of one web task."
  type        = number
  default     = 2048
}

variable "web_gunicorn_workers" {
  description = "gunicorn worker processes per web task (each runs 4 threads)."
  type        = number
  default     = 2
}

variable "web_min_count" {
  description = "Minimum number of web tasks (at least 2, one per AZ)."
  type        = number
  default     = 2
}

variable "web_max_count" {
  description = "Maximum number of web tasks the CPU autoscaling may reach."
  type        = number
  default     = 10
}

variable "worker_cpu" {
  description = "Fargate CPU units of one worker task."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Fargate memory (MiB) of one worker task."
  type        = number
  default     = 2048
}

variable "worker_processes" {
  description = "dramatiq worker processes per worker task."
  type        = number
  default     = 2
}

variable "worker_threads" {
  description = "dramatiq threads per worker process."
  type        = number
  default     = 4
}

variable "worker_min_count" {
  description = "Minimum number of worker tasks."
  type        = number
  default     = 2
}

variable "worker_max_count" {
  description = "Maximum number of worker tasks the CPU autoscaling may reach."
  type        = number
  default     = 10
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation that web and worker autoscaling keeps the services at."
  type        = number
  default     = 60
}

variable "vault_addr" {
  description = "VAULT_ADDR: HTTPS address of the Vault/OpenBao cluster with the transit engine (see vault.md)."
  type        = string

  validation {
    condition     = startswith(var.vault_addr, "https://")
    error_message = "vault_addr must be an https:// URL: tokens and data keys cross this link."
  }
}

variable "vault_port" {
  description = "TCP port of vault_addr, opened for egress from the app tasks."
  type        = number
  default     = 8200
}

variable "vault_egress_cidr" {
  description = "Where the app tasks may reach Vault on vault_port: the peered cluster's CIDR, or 0.0.0.0/0 for a public HCP endpoint."
  type        = string
  default     = "0.0.0.0/0"
}

variable "smtp_port" {
  description = "TCP port of the SMTP relay in the SMTP_URL secret (587 STARTTLS or 465 TLS), opened for egress."
  type        = number
  default     = 587
}

variable "mail_from" {
  description = "MAIL_FROM sender address; null means \"Similia <no-reply@<base_domain>>\"."
  type        = string
  default     = null
}

variable "sms_provider" {
  description = "SMS_PROVIDER: \"twilio\" (put SMS_ACCOUNT_SID and SMS_AUTH_TOKEN in Secrets Manager first) or \"off\"."
  type        = string
  default     = "off"
  validation {
    condition     = contains(["twilio", "off"], var.sms_provider)
    error_message = "sms_provider must be \"twilio\" or \"off\"."
  }
}

variable "sms_from" {
  description = "SMS_FROM: the sender of text messages (an E.164 number or an alphanumeric sender id)."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of CloudWatch log groups and ALB access logs, in days."
  type        = number
  default     = 365
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes above which the WAF blocks that IP."
  type        = number
  default     = 2000
}

variable "purge_schedule" {
  description = "When the daily purge task (saas tenants purge-due) runs: an EventBridge Scheduler expression, in UTC."
  type        = string
  default     = "cron(30 3 * * ? *)"
}
