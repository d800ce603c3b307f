# The long-running processes as ECS services. Run workers are not a service: the
# daemon's EcsRunLauncher starts one task of the run-worker task definition per run,
# in the daemon's own subnets and security group.
locals {
  services = {
    webserver   = { port = 3000, registry = false }
    daemon      = { port = null, registry = false }
    code-server = { port = 4000, registry = true }
    serve       = { port = 8000, registry = true }
  }
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "perfdata's ECS tasks: the Dagster processes, the run workers and perfdata serve"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "code_server" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "The webserver and the daemon reach the code server over gRPC"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 4000
  to_port                      = 4000
}

resource "aws_vpc_security_group_ingress_rule" "serve_from_api_web" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "api-web proxies the perfdata API and dashboard"
  referenced_security_group_id = var.api_web_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

resource "aws_vpc_security_group_ingress_rule" "webserver" {
  for_each                     = toset(var.webserver_ingress_security_group_ids)
  security_group_id            = aws_security_group.tasks.id
  description                  = "The Dagster UI, from the named security groups only"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 3000
  to_port                      = 3000
}

resource "aws_vpc_security_group_egress_rule" "database" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "The Aurora cluster: the LPA and perfdata schemas and the Dagster database"
  referenced_security_group_id = var.database_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "code_server" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "To the code server over gRPC"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 4000
  to_port                      = 4000
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.tasks.id
  description       = "AWS APIs (ECS, CloudWatch, S3, Secrets Manager, ECR) and Sirius's API gateway, over HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "database_from_tasks" {
  security_group_id            = var.database_security_group_id
  description                  = "perfdata's ECS tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_service_discovery_service" "process" {
  for_each = { for s, spec in local.services : s => spec if spec.registry }
  name     = each.key
  dns_config {
    namespace_id = var.service_discovery_namespace_id
    dns_records {
      type = "A"
      ttl  = 10
    }
    routing_policy = "MULTIVALUE"
  }
  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_ecs_service" "process" {
  for_each         = local.services
  name             = "${var.name}-${each.key}"
  cluster          = local.cluster_arn
  task_definition  = aws_ecs_task_definition.process[each.key].arn
  desired_count    = 1
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }

  # Exactly one daemon may run (Dagster's daemon is a singleton): a new release stops
  # the old task before starting the new one. The others overlap during a release.
  deployment_maximum_percent         = each.key == "daemon" ? 100 : 200
  deployment_minimum_healthy_percent = each.key == "daemon" ? 0 : 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "service_registries" {
    for_each = each.value.registry ? [aws_service_discovery_service.process[each.key].arn] : []
    content {
      registry_arn = service_registries.value
    }
  }
}
