output "platform_url" {
  description = "The platform (signup, operator console); clinics are at https://<slug>.<base_domain>."
  value       = "https://${var.base_domain}"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (the apex and wildcard records alias it)."
  value       = aws_lb.main.dns_name
}

output "ecr_repository_url" {
  description = "Push the application image here, tagged with var.image_tag."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster running the web, worker and scheduler services."
  value       = aws_ecs_cluster.main.name
}

output "migrate_task_definition" {
  description = "Task definition of the one-off migration task (saas db upgrade)."
  value       = aws_ecs_task_definition.app["migrate"].arn
}

output "migrate_run_task_command" {
  description = "Runs the migrations on Fargate; wait for exit code 0 before updating the services."
  value = join(" ", [
    "aws ecs run-task --region ${var.region} --cluster ${aws_ecs_cluster.main.name}",
    "--launch-type FARGATE --task-definition ${aws_ecs_task_definition.app["migrate"].arn}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.task["migrate"].id}],assignPublicIp=DISABLED}'",
  ])
}

output "db_endpoint" {
  description = "Endpoint of the PostgreSQL primary (private)."
  value       = aws_db_instance.main.endpoint
}

output "db_replica_endpoint" {
  description = "Endpoint of the PostgreSQL read replica (private)."
  value       = aws_db_instance.replica.endpoint
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the Valkey replication group (private, TLS)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "operator_secret_arns" {
  description = "Secrets to fill with `aws secretsmanager put-secret-value` before the services can start."
  value       = { for name in local.operator_secret_names : name => aws_secretsmanager_secret.app[name].arn }
}

output "waf_web_acl_arn" {
  description = "WAF web ACL attached to the load balancer."
  value       = aws_wafv2_web_acl.main.arn
}
