locals {
  cluster_arn = "arn:aws:ecs:${var.region}:${var.account_id}:cluster/${var.cluster_name}"

  # One task definition, one log group and one execution role per process.
  processes = {
    webserver   = { secrets = ["dagster_pg_password"], task_role = true }
    daemon      = { secrets = ["dagster_pg_password"], task_role = true }
    code-server = { secrets = ["dagster_pg_password", "lpa_database_url", "perfdata_database_url"], task_role = false }
    run-worker  = { secrets = ["dagster_pg_password", "lpa_database_url", "perfdata_database_url"], task_role = true }
    serve       = { secrets = ["lpa_database_url", "perfdata_database_url", "api_token"], task_role = false }
  }
  family    = { for p in keys(local.processes) : p => "${var.name}-${p}" }
  log_group = { for p in keys(local.processes) : p => "/ecs/${var.name}/${p}" }

  code_server_host = "code-server.${var.service_discovery_namespace_name}"

  # The values every ../task-definitions/*.json template is rendered with.
  task_definition_values = {
    region                       = var.region
    image                        = var.image
    dagster_pg_host              = var.dagster_pg.host
    dagster_pg_port              = var.dagster_pg.port
    dagster_pg_user              = var.dagster_pg.user
    dagster_pg_db                = var.dagster_pg.database
    code_server_host             = local.code_server_host
    run_task_definition          = local.family["run-worker"]
    start_date                   = var.start_date
    sirius_base_url              = var.sirius_base_url
    uptime_health_check_id       = var.uptime_health_check_id
    publication_bucket           = var.publication_bucket
    publication_prefix           = var.publication_prefix
    secret_dagster_pg_password   = var.secret_arns.dagster_pg_password
    secret_lpa_database_url      = var.secret_arns.lpa_database_url
    secret_perfdata_database_url = var.secret_arns.perfdata_database_url
    secret_api_token             = var.secret_arns.api_token
  }

  task_definitions = {
    for p, spec in local.processes : p => jsondecode(templatefile("${path.module}/../task-definitions/${p}.json", merge(
      local.task_definition_values,
      {
        family             = local.family[p]
        log_group          = local.log_group[p]
        execution_role_arn = aws_iam_role.execution[p].arn
        # The code server and perfdata serve have none (their templates name no task role).
        task_role_arn = try(aws_iam_role.task[p].arn, "")
      }
    )))
  }
}

resource "aws_cloudwatch_log_group" "process" {
  for_each          = local.log_group
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
}

resource "aws_ecs_task_definition" "process" {
  for_each                 = local.task_definitions
  family                   = each.value.family
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  network_mode             = each.value.networkMode
  requires_compatibilities = each.value.requiresCompatibilities
  execution_role_arn       = each.value.executionRoleArn
  task_role_arn            = try(each.value.taskRoleArn, null)
  container_definitions    = jsonencode(each.value.containerDefinitions)

  runtime_platform {
    operating_system_family = each.value.runtimePlatform.operatingSystemFamily
    cpu_architecture        = each.value.runtimePlatform.cpuArchitecture
  }

  # The scratch /tmp of a read-only root filesystem (Fargate's ephemeral storage).
  volume {
    name = "tmp"
  }

  depends_on = [aws_cloudwatch_log_group.process]
}
