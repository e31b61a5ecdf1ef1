"""Static checks of the production infrastructure in ``terraform/`` (parsed with python-hcl2).

Fast and offline: no terraform binary, no AWS account. Each test pins one property that
matters for security or for running Similia correctly, so a regression in the configuration
fails here before it reaches ``terraform plan``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"

#: Settings that must only ever reach a container from Secrets Manager.
SECRET_ENV = {
    "SECRET_KEY",
    "DATABASE_URL",
    "APP_DATABASE_URL",
    "REDIS_URL",
    "VAULT_TOKEN",
    "VAULT_ADMIN_TOKEN",
    "SMTP_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_CONNECT_WEBHOOK_SECRET",
    "OPS_DATABASE_URL",
    "VAULT_OPERATOR_TOKEN",
    "METRICS_TOKEN",
    "SMS_ACCOUNT_SID",
    "SMS_AUTH_TOKEN",
}
#: Secrets only the migration task holds (never the services).
MIGRATE_ONLY_SECRETS = {"DATABASE_URL", "OPS_DATABASE_PASSWORD", "VAULT_SHREDDER_TOKEN"}
#: README configuration rows that production deliberately does not set.
NOT_SET_IN_PRODUCTION = {
    "APP_DATABASE_PASSWORD": "APP_DATABASE_URL is set in full instead",
    "OPS_DATABASE_PASSWORD": "OPS_DATABASE_URL is set in full; the migration task sets the role's password",
    "SIMILIA_REQUIRE_BROWSER": "test-suite switch",
    "VAULT_SHREDDER_TOKEN": "operator tooling only (saas tenants delete), never the services",
    "STRIPE_API_BASE": "points the stripe library at the local test server; production uses Stripe",
    "SMS_API_BASE": "points the SMS adapter at a Twilio-style test server; production uses Twilio",
    "SMS_FILE": "the development SMS adapter's file",
    "MAIL_DIR": "the embedded SMTP sink's directory (development mailbox)",
    "OUTBOX_LEASE_SECONDS": "the default (5 minutes) is right for production; tests shorten it",
}
APP_TASKS = {"web", "worker", "scheduler", "purge", "migrate"}


# --- loading --------------------------------------------------------------------------------------


@cache
def _files() -> dict[str, dict]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)
    parsed = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            parsed[path.name] = hcl2.load(fh, serialization_options=options)
    return parsed


def _blocks(kind: str) -> dict[str, dict[str, dict]]:
    """``resource``/``data`` blocks of every file as {type: {name: body}}."""
    out: dict[str, dict[str, dict]] = {}
    for doc in _files().values():
        for block in doc.get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    assert name not in out.setdefault(rtype, {}), f"duplicate {rtype}.{name}"
                    out[rtype][name] = body
    return out


def resources(rtype: str) -> dict[str, dict]:
    return _blocks("resource").get(rtype, {})


def resource(rtype: str, name: str) -> dict:
    found = resources(rtype)
    assert name in found, f"{rtype}.{name} is missing from terraform/"
    return found[name]


@cache
def local_values() -> dict:
    merged: dict = {}
    for doc in _files().values():
        for block in doc.get("locals", []):
            for key, value in block.items():
                if not key.startswith("__"):
                    assert key not in merged, f"local.{key} defined twice"
                    merged[key] = value
    return merged


def variables() -> dict[str, dict]:
    out = {}
    for doc in _files().values():
        for block in doc.get("variable", []):
            out.update(block)
    return out


def one(body: dict, block: str) -> dict:
    """The single nested block ``block`` of ``body``."""
    value = body.get(block)
    assert isinstance(value, list) and len(value) == 1, f"expected one {block} block"
    return value[0]


def refs(value, pattern: str) -> bool:
    """Whether an expression (``${...}`` string, or list of them) references ``pattern``."""
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and re.search(pattern, v) for v in values)


def tasks_of(for_each: str) -> set[str]:
    """Resolve ``for_each = toset(local.xxx)`` to the task names it iterates over."""
    match = re.fullmatch(r"\$\{toset\(local\.(\w+)\)\}", for_each or "")
    assert match, f"unexpected for_each {for_each!r}"
    return set(local_values()[match.group(1)])


# --- basics ---------------------------------------------------------------------------------------


def test_every_file_parses_and_the_layout_is_complete():
    names = set(_files())
    for required in (
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "network.tf",
        "database.tf",
        "redis.tf",
        "compute.tf",
        "dns.tf",
        "security.tf",
        "logging.tf",
    ):
        assert required in names
    assert (TF_DIR / "README.md").is_file()
    assert (TF_DIR / "vault.md").is_file() or "vault.tf" in names


def test_versions_are_pinned():
    terraform = _files()["versions.tf"]["terraform"][0]
    assert terraform["required_version"] == ">= 1.6"
    aws = terraform["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> 5\.\d+", aws["version"])


def test_every_variable_has_a_description_and_no_secret_has_a_default():
    found = variables()
    assert {"region", "environment", "base_domain", "image_tag"} <= set(found)
    for name, body in found.items():
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"
        if re.search(r"password|secret|token|private_key", name):
            pytest.fail(f"variable {name} looks like a secret: secrets belong in Secrets Manager")


def test_no_hard_coded_credentials():
    pattern = re.compile(
        r"""(password|auth_token|secret_string|secret_key)\s*=\s*"[^"$]*"|://[^/\s"$:]+:[^@\s"$]+@""",
        re.I,
    )
    for path in TF_DIR.glob("*.tf"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not pattern.search(code), f"{path.name}:{lineno}: literal credential: {line}"


# --- network --------------------------------------------------------------------------------------


def test_two_public_and_two_private_subnets_with_nat_per_az():
    assert resource("aws_subnet", "public")["count"] == "${length(local.azs)}"
    assert resource("aws_subnet", "private")["count"] == "${length(local.azs)}"
    assert "slice(data.aws_availability_zones.available.names, 0, 2)" in local_values()["azs"]
    assert resource("aws_subnet", "public")["map_public_ip_on_launch"] is False
    assert resource("aws_nat_gateway", "main")["count"] == "${length(local.azs)}"
    assert refs(resource("aws_route", "private_nat")["nat_gateway_id"], r"aws_nat_gateway\.main")


# --- database -------------------------------------------------------------------------------------


def test_rds_is_encrypted_private_protected_and_multi_az():
    instances = resources("aws_db_instance")
    primaries = {n: b for n, b in instances.items() if "replicate_source_db" not in b}
    replicas = {n: b for n, b in instances.items() if "replicate_source_db" in b}
    assert primaries and replicas, "a Multi-AZ primary and a read replica are expected"
    for name, db in instances.items():
        assert db["storage_encrypted"] is True, name
        assert refs(db["kms_key_id"], r"aws_kms_key\."), name
        assert db["publicly_accessible"] is False, name
        assert db["deletion_protection"] is True, name
        assert refs(db["vpc_security_group_ids"], r"aws_security_group\.db\.id"), name
    for name, db in primaries.items():
        assert db["engine"] == "postgres"
        assert db["multi_az"] is True, name
        assert db["backup_retention_period"] >= 14, name
        assert db["skip_final_snapshot"] is False, name
        subnet_group = re.fullmatch(
            r"\$\{aws_db_subnet_group\.(\w+)\.name\}", db["db_subnet_group_name"]
        )
        subnets = resource("aws_db_subnet_group", subnet_group.group(1))["subnet_ids"]
        assert subnets == "${aws_subnet.private[*].id}", "RDS must sit in the private subnets only"
    primary_refs = "|".join(rf"aws_db_instance\.{name}\." for name in primaries)
    for name, db in replicas.items():
        assert refs(db["replicate_source_db"], primary_refs), name


def test_postgres_is_16_or_later_and_forces_tls():
    assert int(variables()["postgres_version"]["default"]) >= 16
    for name, db in resources("aws_db_instance").items():
        group = re.fullmatch(
            r"\$\{aws_db_parameter_group\.(\w+)\.name\}", db["parameter_group_name"]
        )
        assert group, f"{name} must use the project's parameter group"
        params = {
            p["name"]: p["value"]
            for p in resource("aws_db_parameter_group", group.group(1))["parameter"]
        }
        assert params.get("rds.force_ssl") == "1", name
    assert "sslmode=require" in local_values()["db_url_base"]


# --- Redis ----------------------------------------------------------------------------------------


def test_redis_is_encrypted_in_transit_and_at_rest_with_auth_from_secrets_manager():
    groups = resources("aws_elasticache_replication_group")
    assert groups
    for name, group in groups.items():
        assert group["at_rest_encryption_enabled"] is True, name
        assert group["transit_encryption_enabled"] is True, name
        assert group.get("transit_encryption_mode", "required") == "required", name
        assert refs(group["kms_key_id"], r"aws_kms_key\."), name
        assert refs(group["auth_token"], r"aws_secretsmanager_secret_version\."), name
        assert group["automatic_failover_enabled"] is True and group["multi_az_enabled"] is True
        subnet_group = re.fullmatch(
            r"\$\{aws_elasticache_subnet_group\.(\w+)\.name\}", group["subnet_group_name"]
        )
        subnets = resource("aws_elasticache_subnet_group", subnet_group.group(1))["subnet_ids"]
        assert subnets == "${aws_subnet.private[*].id}"
    assert local_values()["generated_secret_values"]["REDIS_URL"].startswith("rediss://")


# --- security groups ------------------------------------------------------------------------------


def _data_store_groups() -> dict[str, int]:
    """Security groups of RDS and ElastiCache, derived from the resources, with their port."""
    groups = {}
    for db in resources("aws_db_instance").values():
        for sg in re.findall(r"aws_security_group\.(\w+)\.id", str(db["vpc_security_group_ids"])):
            groups[sg] = 5432
    for cache_group in resources("aws_elasticache_replication_group").values():
        for sg in re.findall(
            r"aws_security_group\.(\w+)\.id", str(cache_group["security_group_ids"])
        ):
            groups[sg] = 6379
    assert set(groups.values()) == {5432, 6379}
    return groups


def test_databases_accept_connections_only_from_app_task_security_groups():
    stores = _data_store_groups()
    for sg in stores:
        body = resource("aws_security_group", sg)
        assert "ingress" not in body, f"{sg}: use aws_vpc_security_group_ingress_rule only"
    assert not resources("aws_security_group_rule"), (
        "use the aws_vpc_security_group_*_rule resources"
    )

    sources: dict[str, set[str]] = {sg: set() for sg in stores}
    for name, rule in resources("aws_vpc_security_group_ingress_rule").items():
        target = re.fullmatch(r"\$\{aws_security_group\.(\w+)\.id\}", rule["security_group_id"])
        if not target or target.group(1) not in stores:
            continue
        port = stores[target.group(1)]
        for key in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id"):
            assert key not in rule, f"{name}: data stores take no {key} ingress"
        assert rule["from_port"] == rule["to_port"] == port, name
        assert rule["referenced_security_group_id"] == "${aws_security_group.task[each.key].id}", (
            name
        )
        tasks = tasks_of(rule["for_each"])
        assert tasks <= APP_TASKS, f"{name}: unexpected sources {tasks - APP_TASKS}"
        sources[target.group(1)] |= tasks
    for sg, tasks in sources.items():
        assert {"web", "worker", "scheduler"} <= tasks, f"{sg} must admit the runtime tasks"
    assert "migrate" not in sources["redis"]


def test_only_the_alb_is_open_to_the_internet():
    for name, group in resources("aws_security_group").items():
        assert "ingress" not in group, f"{name}: use aws_vpc_security_group_ingress_rule only"
    for name, rule in resources("aws_vpc_security_group_ingress_rule").items():
        if rule.get("cidr_ipv4") == "0.0.0.0/0" or rule.get("cidr_ipv6") == "::/0":
            assert rule["security_group_id"] == "${aws_security_group.alb.id}", name
            assert rule["from_port"] == rule["to_port"] and rule["from_port"] in (80, 443), name


def test_web_accepts_traffic_only_from_the_alb():
    def targets_web(rule: dict) -> bool:
        if rule["security_group_id"] == '${aws_security_group.task["web"].id}':
            return True
        return rule["security_group_id"] == "${aws_security_group.task[each.key].id}" and (
            "web" in tasks_of(rule["for_each"])
        )

    rules = {
        n: r for n, r in resources("aws_vpc_security_group_ingress_rule").items() if targets_web(r)
    }
    assert rules
    for name, rule in rules.items():
        assert rule["referenced_security_group_id"] == "${aws_security_group.alb.id}", name
        assert rule["from_port"] == rule["to_port"] == 8000, name


def test_waf_has_managed_common_rules_and_a_rate_limit_on_the_alb():
    acl = resource("aws_wafv2_web_acl", "main")
    assert acl["scope"] == "REGIONAL"
    statements = [one(rule, "statement") for rule in acl["rule"]]
    managed = {
        one(s, "managed_rule_group_statement")["name"]
        for s in statements
        if "managed_rule_group_statement" in s
    }
    assert "AWSManagedRulesCommonRuleSet" in managed
    rate = [one(s, "rate_based_statement") for s in statements if "rate_based_statement" in s]
    assert rate and rate[0]["aggregate_key_type"] == "IP"
    rate_rule = next(r for r in acl["rule"] if "rate_based_statement" in one(r, "statement"))
    assert "block" in one(rate_rule, "action")
    association = resource("aws_wafv2_web_acl_association", "alb")
    assert association["resource_arn"] == "${aws_lb.main.arn}"
    assert association["web_acl_arn"] == "${aws_wafv2_web_acl.main.arn}"


# --- load balancer and DNS ------------------------------------------------------------------------


def test_https_listener_uses_the_acm_certificate_and_http_redirects():
    listeners = {b["port"]: b for b in resources("aws_lb_listener").values()}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["protocol"] == "HTTPS"
    assert refs(
        https["certificate_arn"],
        r"aws_acm_certificate(_validation)?\.main\.certificate_arn|aws_acm_certificate\.main\.arn",
    )
    assert "TLS13" in https["ssl_policy"] or "TLS-1-2" in https["ssl_policy"]
    assert one(https, "default_action")["type"] == "forward"
    http = one(listeners[80], "default_action")
    assert http["type"] == "redirect"
    redirect = one(http, "redirect")
    assert redirect["protocol"] == "HTTPS" and redirect["status_code"] == "HTTP_301"

    cert = resource("aws_acm_certificate", "main")
    assert cert["domain_name"] == "${var.base_domain}"
    assert cert["subject_alternative_names"] == ["*.${var.base_domain}"]
    assert cert["validation_method"] == "DNS"
    alb = resource("aws_lb", "main")
    assert alb["internal"] is False and alb["drop_invalid_header_fields"] is True
    assert alb["subnets"] == "${aws_subnet.public[*].id}"


def test_dns_points_the_apex_and_every_clinic_subdomain_at_the_alb():
    names = {}
    for record in resources("aws_route53_record").values():
        if "alias" in record:
            assert one(record, "alias")["name"] == "${aws_lb.main.dns_name}"
            names[record["name"]] = record["type"]
    assert names == {"${var.base_domain}": "A", "*.${var.base_domain}": "A"}


# --- ECS ------------------------------------------------------------------------------------------


def test_web_health_check_is_healthz_on_the_target_group_of_the_web_service():
    web = resource("aws_ecs_service", "web")
    lb = one(web, "load_balancer")
    group = re.fullmatch(r"\$\{aws_lb_target_group\.(\w+)\.arn\}", lb["target_group_arn"]).group(1)
    health = one(resource("aws_lb_target_group", group), "health_check")
    assert health["path"] == "/healthz"
    assert str(health.get("matcher", "200")) == "200"
    assert lb["container_port"] == local_values()["tasks"]["web"]["port"] == 8000


def test_services_run_the_right_commands():
    tasks = local_values()["tasks"]
    assert set(tasks) == APP_TASKS
    web = tasks["web"]["command"]
    assert web[0] == "gunicorn" and "saas.wsgi:app" in web
    assert tasks["worker"]["command"][:2] == ["dramatiq", "workers.tasks"]
    assert tasks["scheduler"]["command"] == ["python", "-m", "workers.scheduler"]
    assert tasks["migrate"]["command"] == ["saas", "db", "upgrade"]
    assert tasks["purge"]["command"] == ["saas", "tenants", "purge-due"]
    definitions = resource("aws_ecs_task_definition", "app")
    assert definitions["for_each"] == "${local.tasks}"
    assert "command = each.value.command" in definitions["container_definitions"]
    # migrate is a one-off task definition, never a service
    services = resources("aws_ecs_service")
    assert set(services) == {"web", "worker", "scheduler"}
    for name, service in services.items():
        assert service["task_definition"] == f'${{aws_ecs_task_definition.app["{name}"].arn}}'
        assert service["launch_type"] == "FARGATE"
        network = one(service, "network_configuration")
        assert network["assign_public_ip"] is False
        assert network["subnets"] == "${aws_subnet.private[*].id}"
        assert network["security_groups"] == [f'${{aws_security_group.task["{name}"].id}}']


def test_the_purge_runs_daily_with_the_shredder_token_that_no_service_holds():
    """Closing clinics are deleted for good by a scheduled one-off task, not by a service."""
    secret_sets = local_values()["secret_sets"]
    purge = secret_sets["purge"]
    assert "VAULT_SHREDDER_TOKEN" in purge
    arn = re.compile(r'\$\{aws_secretsmanager_secret\.app\["([A-Z_]+)"\]\.arn\}')
    assert arn.fullmatch(purge["DATABASE_URL"]).group(1) == "DATABASE_URL"  # owner: deletes rows
    for name, secrets in secret_sets.items():
        if name != "purge":
            assert "VAULT_SHREDDER_TOKEN" not in secrets, name
    schedule = resource("aws_scheduler_schedule", "purge")
    assert schedule["schedule_expression"] == "${var.purge_schedule}"
    assert re.fullmatch(r"cron\(\d+ \d+ \* \* \? \*\)", variables()["purge_schedule"]["default"])
    target = one(schedule, "target")
    params = one(target, "ecs_parameters")
    assert params["task_definition_arn"] == (
        '${aws_ecs_task_definition.app["purge"].arn_without_revision}'
    )
    assert params["task_count"] == 1
    network = one(params, "network_configuration")
    assert network["assign_public_ip"] is False
    assert network["security_groups"] == ['${aws_security_group.task["purge"].id}']
    # the schedule's role may start only that task and pass only its roles
    policy = _blocks("data")["aws_iam_policy_document"]["purge_schedule"]
    statements = {s["sid"]: s for s in policy["statement"]}
    assert statements["RunThePurgeTask"]["actions"] == ["ecs:RunTask"]
    assert statements["RunThePurgeTask"]["resources"] == [
        '${aws_ecs_task_definition.app["purge"].arn_without_revision}'
    ]
    assert statements["PassItsRoles"]["resources"] == [
        '${aws_iam_role.execution["purge"].arn}',
        "${aws_iam_role.task.arn}",
    ]
    assert "purge" not in resources("aws_ecs_service")


def test_exactly_one_scheduler():
    scheduler = resource("aws_ecs_service", "scheduler")
    assert scheduler["desired_count"] == 1
    assert scheduler["deployment_maximum_percent"] == 100, "a deploy must not run two schedulers"
    targets = resources("aws_appautoscaling_target")
    assert all("scheduler" not in str(t) for t in targets.values())


def test_web_and_worker_autoscale_on_cpu():
    autoscaled = local_values()["autoscaled"]
    assert set(autoscaled) == {"web", "worker"}
    assert resource("aws_appautoscaling_target", "service")["for_each"] == "${local.autoscaled}"
    policy = resource("aws_appautoscaling_policy", "cpu")
    assert policy["for_each"] == "${local.autoscaled}"
    config = one(policy, "target_tracking_scaling_policy_configuration")
    metric = one(config, "predefined_metric_specification")
    assert metric["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"


def test_secrets_reach_containers_only_from_secrets_manager():
    secret_sets = local_values()["secret_sets"]
    assert set(secret_sets["runtime"]) == SECRET_ENV
    assert "DATABASE_URL" in secret_sets["migrate"]
    arn = re.compile(r'\$\{aws_secretsmanager_secret\.app\["([A-Z_]+)"\]\.arn\}')
    for set_name, secrets in secret_sets.items():
        for env_name, value in secrets.items():
            assert arn.fullmatch(value), f"{set_name}.{env_name} must be a Secrets Manager ARN"
    # the long-running services never hold the owner (migration) login
    assert arn.fullmatch(secret_sets["runtime"]["DATABASE_URL"]).group(1) == "APP_DATABASE_URL"
    assert arn.fullmatch(secret_sets["migrate"]["DATABASE_URL"]).group(1) == "DATABASE_URL"
    tasks = local_values()["tasks"]
    assert {n for n, t in tasks.items() if t["secret_set"] == "runtime"} == {
        "web",
        "worker",
        "scheduler",
    }

    # Every secret env var has a Secrets Manager secret.
    declared = set(local_values()["generated_secret_names"]) | set(
        local_values()["operator_secret_names"]
    )
    assert declared == SECRET_ENV | MIGRATE_ONLY_SECRETS
    assert not MIGRATE_ONLY_SECRETS - {"DATABASE_URL"} & set(secret_sets["runtime"])
    assert resource("aws_secretsmanager_secret", "app")["for_each"] == (
        "${toset(concat(local.generated_secret_names, local.operator_secret_names))}"
    )
    for name, secret in resources("aws_secretsmanager_secret").items():
        assert refs(secret["kms_key_id"], r"aws_kms_key\."), name

    # The task definition takes "secrets" from the map above and plain "environment" only from
    # local.app_environment, which holds no secret names; no secret name is spelled out in it.
    definition = resource("aws_ecs_task_definition", "app")["container_definitions"]
    assert (
        "secrets = [for name, arn in local.secret_sets[each.value.secret_set] : "
        "{name = name, valueFrom = arn}]" in definition
    )
    assert (
        "environment = [for name, value in local.app_environment : {name = name, value = value}]"
        in definition
    )
    for name in SECRET_ENV:
        assert name not in definition, f"{name} spelled out in container_definitions"
    assert not SECRET_ENV & set(local_values()["app_environment"])


def test_public_settings_for_https_behind_one_proxy():
    env = local_values()["app_environment"]
    assert env["SAAS_PUBLIC_SCHEME"] == "https"
    assert env["SAAS_PROXY_HOPS"] == "1"
    assert env["SAAS_PUBLIC_PORT"] in ("443", "")
    assert env["SAAS_BASE_DOMAIN"] == "${var.base_domain}"
    assert env["VAULT_ADDR"] == "${var.vault_addr}"


def test_every_readme_setting_is_provided():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.M))
    assert "SECRET_KEY" in documented, "README configuration table not found"
    provided = set(local_values()["app_environment"]) | set(
        local_values()["secret_sets"]["runtime"]
    )
    missing = documented - provided - set(NOT_SET_IN_PRODUCTION)
    assert not missing, f"README settings not provided to the containers: {sorted(missing)}"


def test_execution_and_task_roles_are_separate_and_least_privilege():
    definition = resource("aws_ecs_task_definition", "app")
    assert (
        definition["execution_role_arn"] == "${aws_iam_role.execution[each.value.secret_set].arn}"
    )
    assert definition["task_role_arn"] == "${aws_iam_role.task.arn}"
    # the task role (what app code could use) has no permissions at all
    for rtype in ("aws_iam_role_policy", "aws_iam_role_policy_attachment"):
        for name, body in resources(rtype).items():
            assert body.get("role") not in (
                "${aws_iam_role.task.id}",
                "${aws_iam_role.task.name}",
            ), name
    # one execution role per secret set; each reads only its own secrets
    assert resource("aws_iam_role", "execution")["for_each"] == "${local.secret_sets}"
    policy = _blocks("data")["aws_iam_policy_document"]["execution"]
    statements = {s["sid"]: s for s in policy["statement"]}
    assert statements["ReadThisTasksSecrets"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadThisTasksSecrets"]["resources"] == "${distinct(values(each.value))}"
    for sid, statement in statements.items():
        assert not any(a.endswith(":*") or a == "*" for a in statement["actions"]), sid
        if statement["resources"] == ["*"]:
            assert statement["actions"] == ["ecr:GetAuthorizationToken"], sid


def test_containers_are_hardened():
    definition = resource("aws_ecs_task_definition", "app")["container_definitions"]
    assert "readonlyRootFilesystem = true" in definition
    assert 'logDriver = "awslogs"' in definition


# --- logging --------------------------------------------------------------------------------------


def test_log_groups_are_encrypted_and_expire():
    groups = resources("aws_cloudwatch_log_group")
    assert "task" in groups and groups["task"]["for_each"] == "${local.tasks}"
    for name, group in groups.items():
        assert group["retention_in_days"] == "${var.log_retention_days}", name
        assert refs(group["kms_key_id"], r"aws_kms_key\."), name
    assert variables()["log_retention_days"]["default"] >= 90
    assert resource("aws_kms_key", "main")["enable_key_rotation"] is True
