# ECS Fargate: one image, four task definitions.
#
#   web        gunicorn saas.wsgi:app behind the ALB (stateless; autoscaled on CPU)
#   worker     dramatiq workers.tasks (stateless; autoscaled on CPU)
#   scheduler  python -m workers.scheduler (exactly one task)
#   migrate    saas db upgrade (one-off task, run before each deploy of web/worker)
#
# Tasks run in the private subnets without public IPs, with a read-only root filesystem
# (a scratch volume is mounted at /tmp), and log JSON lines to CloudWatch (logging.tf).

resource "aws_ecr_repository" "app" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 100 most recent images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 100 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# ---------------------------------------------------------------------------------------------
# Container configuration: README "Configuration", split into plain settings and secrets.
# ---------------------------------------------------------------------------------------------

locals {
  image = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"

  # Plain (non-secret) settings.
  app_environment = {
    SAAS_BASE_DOMAIN   = var.base_domain
    SAAS_PUBLIC_SCHEME = "https" # TLS ends at the ALB; also makes the cookies Secure
    SAAS_PUBLIC_PORT   = "443"   # the https default, so links carry no port
    SAAS_PROXY_HOPS    = "1"     # the ALB is the one proxy whose X-Forwarded-For/-Proto we trust
    VAULT_ADDR         = var.vault_addr
    MAIL_FROM          = coalesce(var.mail_from, "Similia <no-reply@${var.base_domain}>")
    SAAS_ENV           = "production" # no development pages; /metrics needs METRICS_TOKEN
    # Prometheus multiprocess mode: gunicorn's processes (and a task's dramatiq processes)
    # keep their counters in files here, on the writable /tmp volume; /metrics adds them up
    PROMETHEUS_MULTIPROC_DIR = "/tmp/prometheus"
    # text messages: "twilio" (the Twilio-style REST adapter; account and token are secrets)
    # or "off"; SMS_API_BASE stays unset (the provider's own API)
    SMS_PROVIDER = var.sms_provider
    SMS_FROM     = var.sms_from
  }

  # Secrets: environment variable -> Secrets Manager ARN, resolved by ECS at task start.
  # The long-running services never receive the owner login: their DATABASE_URL (which the
  # config requires but only migrations use) is the runtime role's URL, so a compromised web
  # or worker task holds no credential that could alter the schema or switch off RLS.
  secret_sets = {
    runtime = {
      SECRET_KEY        = aws_secretsmanager_secret.app["SECRET_KEY"].arn
      DATABASE_URL      = aws_secretsmanager_secret.app["APP_DATABASE_URL"].arn
      APP_DATABASE_URL  = aws_secretsmanager_secret.app["APP_DATABASE_URL"].arn
      REDIS_URL         = aws_secretsmanager_secret.app["REDIS_URL"].arn
      VAULT_TOKEN       = aws_secretsmanager_secret.app["VAULT_TOKEN"].arn
      VAULT_ADMIN_TOKEN = aws_secretsmanager_secret.app["VAULT_ADMIN_TOKEN"].arn
      SMTP_URL          = aws_secretsmanager_secret.app["SMTP_URL"].arn

      # the operator console (/ops): its own blind database role and Vault token
      OPS_DATABASE_URL     = aws_secretsmanager_secret.app["OPS_DATABASE_URL"].arn
      VAULT_OPERATOR_TOKEN = aws_secretsmanager_secret.app["VAULT_OPERATOR_TOKEN"].arn

      STRIPE_SECRET_KEY             = aws_secretsmanager_secret.app["STRIPE_SECRET_KEY"].arn
      STRIPE_WEBHOOK_SECRET         = aws_secretsmanager_secret.app["STRIPE_WEBHOOK_SECRET"].arn
      STRIPE_CONNECT_WEBHOOK_SECRET = aws_secretsmanager_secret.app["STRIPE_CONNECT_WEBHOOK_SECRET"].arn

      # /metrics bearer token (generated), and the SMS provider's account and token
      METRICS_TOKEN   = aws_secretsmanager_secret.app["METRICS_TOKEN"].arn
      SMS_ACCOUNT_SID = aws_secretsmanager_secret.app["SMS_ACCOUNT_SID"].arn
      SMS_AUTH_TOKEN  = aws_secretsmanager_secret.app["SMS_AUTH_TOKEN"].arn
    }
    migrate = {
      DATABASE_URL     = aws_secretsmanager_secret.app["DATABASE_URL"].arn
      APP_DATABASE_URL = aws_secretsmanager_secret.app["APP_DATABASE_URL"].arn # for the one-time ALTER ROLE (README.md)
      OPS_DATABASE_PASSWORD = aws_secretsmanager_secret.app["OPS_DATABASE_PASSWORD"].arn # 0020_operators sets similia_ops's password
    }
    # The daily purge of clinics whose closing grace period ended (tenants.closing): it
    # deletes their rows on the owner connection and destroys their transit keys with the
    # shredder token, which no long-running service ever holds.
    purge = {
      SECRET_KEY           = aws_secretsmanager_secret.app["SECRET_KEY"].arn
      DATABASE_URL         = aws_secretsmanager_secret.app["DATABASE_URL"].arn
      APP_DATABASE_URL     = aws_secretsmanager_secret.app["APP_DATABASE_URL"].arn
      REDIS_URL            = aws_secretsmanager_secret.app["REDIS_URL"].arn
      VAULT_TOKEN          = aws_secretsmanager_secret.app["VAULT_TOKEN"].arn
      VAULT_SHREDDER_TOKEN = aws_secretsmanager_secret.app["VAULT_SHREDDER_TOKEN"].arn
      SMTP_URL             = aws_secretsmanager_secret.app["SMTP_URL"].arn
    }
  }

  tasks = {
    web = {
      command = [
        "gunicorn", "saas.wsgi:app",
        "--config", "python:saas.gunicorn_conf", # hooks: Prometheus multiprocess clean-up
        "--bind", "0.0.0.0:8000",
        "--workers", tostring(var.web_gunicorn_workers),
        "--threads", "4",
        "--keep-alive", "75", # longer than the ALB idle timeout (60 s): no 502 on reuse
        "--graceful-timeout", "25",
      ]
      cpu        = var.web_cpu
      memory     = var.web_memory
      secret_set = "runtime"
      port       = 8000
    }
    worker = {
      command    = ["dramatiq", "workers.tasks", "--processes", tostring(var.worker_processes), "--threads", tostring(var.worker_threads)]
      cpu        = var.worker_cpu
      memory     = var.worker_memory
      secret_set = "runtime"
      port       = null
    }
    scheduler = {
      command    = ["python", "-m", "workers.scheduler"]
      cpu        = 256
      memory     = 512
      secret_set = "runtime"
      port       = null
    }
    purge = {
      command    = ["saas", "tenants", "purge-due"]
      cpu        = 256
      memory     = 512
      secret_set = "purge"
      port       = null
    }
    migrate = {
      command    = ["saas", "db", "upgrade"]
      cpu        = 512
      memory     = 1024
      secret_set = "migrate"
      port       = null
    }
  }
}

resource "aws_ecs_task_definition" "app" {
  for_each                 = local.tasks
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution[each.value.secret_set].arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp" # Fargate ephemeral storage: the only writable path
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = local.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = true
    stopTimeout            = 30
    environment            = [for name, value in local.app_environment : { name = name, value = value }]
    secrets                = [for name, arn in local.secret_sets[each.value.secret_set] : { name = name, valueFrom = arn }]
    portMappings           = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters        = { initProcessEnabled = true }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.task[each.key].name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = each.key
        "mode"                  = "non-blocking" # a logging hiccup must not stall requests
        "max-buffer-size"       = "4m"
      }
    }
  }])
}

# ---------------------------------------------------------------------------------------------
# IAM. The execution role is what ECS itself uses to start a task (pull the image, write logs,
# read that task's secrets); the task role is what the app's code could use. The app calls no
# AWS API, so the task role has no permissions at all. Two execution roles keep the owner
# DATABASE_URL readable only when starting the migrate task.
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  description        = "Similia application code (no AWS permissions needed)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role" "execution" {
  for_each           = local.secret_sets
  name               = "${local.name}-${each.key}-execution"
  description        = "ECS agent starting Similia ${each.key} tasks: image, logs, secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.secret_sets

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this action has no resource-level scoping
  }

  statement {
    sid       = "PullAppImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for group in aws_cloudwatch_log_group.task : "${group.arn}:*"]
  }

  statement {
    sid       = "ReadThisTasksSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = distinct(values(each.value))
  }

  statement {
    sid       = "DecryptSecretsAndImage"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com", "ecr.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.secret_sets
  name     = "start-${each.key}-tasks"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}

# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------

resource "aws_ecs_service" "web" {
  name                              = "web"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.app["web"].arn
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  desired_count                     = var.web_min_count
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_execute_command            = false

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.task["web"].id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = "web"
    container_port   = 8000
  }

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling
  }

  depends_on = [aws_lb_listener.https]
}

resource "aws_ecs_service" "worker" {
  name                   = "worker"
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.app["worker"].arn
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  desired_count          = var.worker_min_count
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.task["worker"].id]
    assign_public_ip = false
  }

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling
  }
}

# Exactly one scheduler: a deploy stops the old task before starting the new one.
resource "aws_ecs_service" "scheduler" {
  name                   = "scheduler"
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.app["scheduler"].arn
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  desired_count          = 1
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.task["scheduler"].id]
    assign_public_ip = false
  }

  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

# ---------------------------------------------------------------------------------------------
# Autoscaling on average CPU (web and worker)
# ---------------------------------------------------------------------------------------------

locals {
  autoscaled = {
    web    = { service = aws_ecs_service.web.name, min = var.web_min_count, max = var.web_max_count }
    worker = { service = aws_ecs_service.worker.name, min = var.worker_min_count, max = var.worker_max_count }
  }
}

resource "aws_appautoscaling_target" "service" {
  for_each           = local.autoscaled
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${each.value.service}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each           = local.autoscaled
  name               = "${local.name}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Load balancer: HTTPS only (HTTP redirects), TLS 1.2+, certificate for the platform domain
# and every clinic subdomain.
# ---------------------------------------------------------------------------------------------

resource "aws_acm_certificate" "main" {
  domain_name               = var.base_domain
  subject_alternative_names = ["*.${var.base_domain}"]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate_validation" "main" {
  certificate_arn         = aws_acm_certificate.main.arn
  validation_record_fqdns = [for record in aws_route53_record.acm_validation : record.fqdn]
}

resource "aws_lb" "main" {
  #checkov:skip=CKV2_AWS_76:KnownBadInputs (with the Log4j rules) is on; AnonymousIpList would block patients on VPNs and webhooks from cloud IPs
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  idle_timeout               = 60
  drop_invalid_header_fields = true
  enable_deletion_protection = true

  access_logs {
    bucket  = aws_s3_bucket.alb_logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.alb_logs]
}

resource "aws_lb_target_group" "web" {
  name                 = "${local.name}-web"
  port                 = 8000
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.main.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

# ---------------------------------------------------------------------------------------------
# The daily purge (saas tenants purge-due): EventBridge Scheduler starts the one-off purge
# task once a day. A run that fails (Vault refusing, say) deletes nothing and the next day's
# run repeats it (tenants.closing).
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "purge_schedule" {
  name               = "${local.name}-purge-schedule"
  description        = "EventBridge Scheduler starting the daily purge task"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "purge_schedule" {
  statement {
    sid       = "RunThePurgeTask"
    actions   = ["ecs:RunTask"]
    resources = [aws_ecs_task_definition.app["purge"].arn_without_revision]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    sid       = "PassItsRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution["purge"].arn, aws_iam_role.task.arn]
  }
}

resource "aws_iam_role_policy" "purge_schedule" {
  name   = "run-purge-task"
  role   = aws_iam_role.purge_schedule.id
  policy = data.aws_iam_policy_document.purge_schedule.json
}

resource "aws_scheduler_schedule" "purge" {
  name                         = "${local.name}-purge-due"
  description                  = "Delete for good the clinics whose 30-day closing grace period ended"
  schedule_expression          = var.purge_schedule
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.main.arn
    role_arn = aws_iam_role.purge_schedule.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.app["purge"].arn_without_revision
      launch_type         = "FARGATE"
      platform_version    = "LATEST"
      task_count          = 1

      network_configuration {
        subnets          = aws_subnet.private[*].id
        security_groups  = [aws_security_group.task["purge"].id]
        assign_public_ip = false
      }
    }

    retry_policy {
      maximum_retry_attempts = 2
    }
  }
}
