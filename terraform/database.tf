# PostgreSQL: one Multi-AZ primary (synchronous standby in the other AZ, automatic failover)
# plus one asynchronous read replica. Private subnets only, KMS-encrypted, TLS enforced.
#
# Two logins reach it, each stored as a full URL in Secrets Manager:
#   DATABASE_URL      the RDS master user; owns the schema, used only by the migrate task;
#   APP_DATABASE_URL  similia_app (NOSUPERUSER, NOBYPASSRLS, DML grants), used by every service.
# Migrations create similia_app without a password; README.md shows the one-time step that
# sets it to the generated value below.

resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "main" {
  name   = "${local.name}-postgres${var.postgres_version}"
  family = "postgres${var.postgres_version}"

  parameter {
    name  = "rds.force_ssl" # refuse unencrypted connections
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement" # slow queries, in ms
    value = "1000"
  }

  parameter {
    name  = "log_statement" # schema changes are always logged
    value = "ddl"
  }

  parameter {
    name  = "log_parameter_max_length" # never copy bind values (patient data) into the logs
    value = "0"
  }

  parameter {
    name  = "log_parameter_max_length_on_error"
    value = "0"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Letters and digits only, so the passwords drop into URLs without escaping.
resource "random_password" "db_master" {
  length  = 40
  special = false
}

resource "random_password" "db_app" {
  length  = 40
  special = false
}

# The operator console's role (similia_ops, migration 0020_operators): its password is set by
# the migration task from OPS_DATABASE_PASSWORD; the services connect with OPS_DATABASE_URL.
resource "random_password" "db_ops" {
  length  = 40
  special = false
}

locals {
  db_name            = "similia"
  db_master_username = "similia_admin"
  db_url_base        = "${aws_db_instance.main.address}:${aws_db_instance.main.port}/${local.db_name}?sslmode=require"
}

resource "aws_db_instance" "main" {
  identifier     = "${local.name}-postgres"
  engine         = "postgres"
  engine_version = var.postgres_version
  instance_class = var.db_instance_class

  db_name  = local.db_name
  username = local.db_master_username
  password = random_password.db_master.result

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.main.name

  backup_retention_period   = 14
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.name}-postgres-final"

  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn

  depends_on = [aws_cloudwatch_log_group.rds] # encrypted, with retention (logging.tf)
}

# Read replica in the same region (inherits the subnet group). Not used by the app yet: it is
# there for reporting/exports and as a warm copy; see README.md "Scale-out".
resource "aws_db_instance" "replica" {
  #checkov:skip=CKV_AWS_133:backups are taken on the Multi-AZ primary; the replica is rebuilt from it
  #checkov:skip=CKV_AWS_157:the replica serves reporting reads; HA comes from the Multi-AZ primary
  identifier          = "${local.name}-postgres-replica"
  replicate_source_db = aws_db_instance.main.identifier
  instance_class      = var.db_replica_instance_class

  storage_encrypted      = true
  kms_key_id             = aws_kms_key.main.arn
  max_allocated_storage  = var.db_max_allocated_storage
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.main.name

  backup_retention_period = 0 # backups are taken on the primary
  copy_tags_to_snapshot   = true
  deletion_protection     = true
  skip_final_snapshot     = true

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn

  depends_on = [aws_cloudwatch_log_group.rds] # encrypted, with retention (logging.tf)
}

# Enhanced monitoring (OS metrics every 60 s).
resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
